import type { Command } from 'commander';
import { mergePlan } from '../../scale/index.js';
import { printJson } from '../common.js';

export function register(program: Command): void {
  program
    .command('merge <plan>')
    .description('merge the shards of a complete plan into PLAN/merged/ (refuses while any shard is missing)')
    .option('--json', 'print JSON')
    .action(async (plan: string, f: { json?: boolean }) => {
      const r = await mergePlan(plan);
      if (f.json) return printJson(r);
      console.log(`merged ${r.rows} rows${r.dim !== undefined ? ` × ${r.dim} features` : ''}, ${r.failures} unreadable`);
      console.log(`wrote ${r.files.join(', ')}`);
    });
}
