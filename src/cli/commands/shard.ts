import type { Command } from 'commander';
import { INDEX_VARIABLES, runShard } from '../../scale/index.js';
import { printJson } from '../common.js';
import { terminalProgress } from '../progress.js';

export function register(program: Command): void {
  program
    .command('shard <plan>')
    .description('run one shard of a plan; skipped when its done marker is valid')
    .requiredOption('--index <k>', `shard index, or auto (${INDEX_VARIABLES.join(', ')})`)
    .option('--force', 'run it again even if it is done')
    .option('--json', 'print the done marker')
    .action(async (plan: string, f: { index: string; force?: boolean; json?: boolean }) => {
      const r = await runShard(plan, f.index, { force: f.force, progress: terminalProgress(), log: (l) => console.error(l) });
      if (f.json) return printJson(r.marker);
      const m = r.marker;
      if (r.skipped) console.log(`shard ${r.shard}: already done (${m.rows} rows, ${m.failures.length} unreadable, finished ${m.finished} on ${m.host}); --force redoes it`);
      else console.log(`shard ${r.shard}: ${m.rows} rows, ${m.failures.length} unreadable, ${m.seconds.toFixed(1)} s (${(m.range[1] - m.range[0]) / Math.max(m.seconds, 1e-9) | 0} img/s)`);
      for (const x of m.failures.slice(0, 5)) console.log(`  unreadable ${x.image}: ${x.reason}`);
    });
}
