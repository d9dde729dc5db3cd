/**
 * P/slurm.sh: one script that is both the array task (`sbatch P/slurm.sh`, each task runs `graft shard P --index
 * auto`) and, run with bash outside Slurm, the submitter of the array plus the merge as a dependent job (afterany:
 * the merge runs when every task has ended, and itself refuses unless every shard is done).
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../util/fsutil.js';
import type { LoadedPlan } from './plan.js';

export interface SlurmOptions {
  /** `%K` on the array: at most K shards run at once. */
  maxParallel?: number;
  cpusPerTask?: number;
  /** Extra `#SBATCH` lines, e.g. `--partition=gpu` or `--time=02:00:00`. */
  extra?: string[];
}

/** Single-quotes a word for bash. */
function q(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function slurmScript(p: LoadedPlan, opts: SlurmOptions = {}): string {
  const n = p.plan.shards;
  const cpus = opts.cpusPerTask ?? 1;
  const array = `0-${n - 1}${opts.maxParallel ? `%${opts.maxParallel}` : ''}`;
  const logs = path.join(p.dir, 'logs');
  return `#!/bin/bash
# graft plan ${p.plan.kind}: ${p.plan.images} images in ${n} shards (plan ${p.hash.slice(0, 12)}). Written by \`graft plan\`.
#
#   bash ${p.dir}/slurm.sh [--max-parallel K] [sbatch options]   submit every shard, then the merge (afterany)
#   sbatch --array=2,7 ${p.dir}/slurm.sh                         rerun some shards (see \`graft status\`), then \`graft merge\`
#
# The shard count is fixed by plan.json, whatever array subset is submitted. Shards with a valid done marker are
# skipped, so resubmitting the whole array is also safe. Add lines such as  #SBATCH --partition=…  or  --time=… below.
#SBATCH --job-name=graft-shard
#SBATCH --array=${array}
#SBATCH --cpus-per-task=${cpus}
#SBATCH --output=${logs}/shard-%a-%A.out
${(opts.extra ?? []).map((l) => `#SBATCH ${l}`).join('\n')}
set -euo pipefail
GRAFT=(${p.plan.graftCommand.map(q).join(' ')})
PLAN=${q(p.dir)}

if [[ -n "\${SLURM_ARRAY_TASK_ID:-}" ]]; then
  # One onnxruntime thread per allocated CPU: several tasks share a node.
  export GRAFT_THREADS="\${SLURM_CPUS_PER_TASK:-${cpus}}"
  exec "\${GRAFT[@]}" shard "$PLAN" --index auto
fi

# Not inside an array task: submit the array and the merge.
array=${q(array)}
if [[ "\${1:-}" == --max-parallel ]]; then array="0-${n - 1}%$2"; shift 2; fi
shards=$(sbatch --parsable --array="$array" "$@" "$PLAN/slurm.sh")
shards=\${shards%%;*}
merge=$(sbatch --parsable --job-name=graft-merge --dependency=afterany:"$shards" --output="$PLAN/logs/merge-%j.out" "$@" \\
  --wrap="$(printf '%q ' "\${GRAFT[@]}") merge $(printf '%q' "$PLAN")")
merge=\${merge%%;*}
echo "shards: job $shards (array $array); merge: job $merge (after every shard ends)"
echo "follow: squeue -j $shards,$merge   status: $(printf '%q ' "\${GRAFT[@]}")status $PLAN"
`;
}

export async function emitSlurm(p: LoadedPlan, opts: SlurmOptions = {}): Promise<string> {
  const file = path.join(p.dir, 'slurm.sh');
  await writeFileAtomic(file, slurmScript(p, opts));
  await fs.promises.chmod(file, 0o755);
  return file;
}
