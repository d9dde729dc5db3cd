import type { Command } from 'commander';
import { planStatus } from '../../scale/index.js';
import { printJson } from '../common.js';

/** Exit status when some shards are not done (0: complete). */
const INCOMPLETE = 3;

export function register(program: Command): void {
  program
    .command('status <plan>')
    .description('done and missing shards of a plan; exits 0 when complete, 3 when not')
    .option('--json', 'print JSON')
    .action(async (plan: string, f: { json?: boolean }) => {
      const s = await planStatus(plan);
      if (!s.complete) process.exitCode = INCOMPLETE;
      if (f.json) return printJson(s);
      const rows = s.shards.reduce((a, x) => a + (x.rows ?? 0), 0);
      const failed = s.shards.reduce((a, x) => a + (x.failures ?? 0), 0);
      console.log(`${s.plan}: ${s.kind}, ${s.images} images, ${s.shards.length} shards`);
      console.log(`done ${s.done}/${s.shards.length} shards (${rows} rows, ${failed} unreadable)`);
      if (s.complete) return console.log('complete: graft merge ' + s.plan);
      for (const x of s.shards.filter((t) => t.state !== 'done').slice(0, 20)) console.log(`  shard ${x.index} ${x.state}: ${x.reason} (${x.images} images)`);
      console.log(`missing ${s.missing.length}: resubmit with sbatch ${s.array} ${s.plan}/slurm.sh (or graft shard ${s.plan} --index K)`);
      console.log(s.array);
    });
}
