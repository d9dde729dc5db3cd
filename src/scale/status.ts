/** Which shards of a plan are done, and the missing ones as a ready `--array=…` for resubmission. */
import { checkShard } from './marker.js';
import { readPlan, shardRange } from './plan.js';

export interface ShardStatus {
  index: number;
  state: 'done' | 'missing' | 'invalid';
  images: number;
  rows?: number;
  failures?: number;
  reason?: string;
}

export interface PlanStatus {
  plan: string;
  kind: 'extract' | 'predict';
  images: number;
  shards: ShardStatus[];
  done: number;
  /** Shards to run again (missing or invalid), ascending. */
  missing: number[];
  complete: boolean;
  /** `--array=2,7,11` (runs of three or more written as ranges, as Slurm accepts), or '' when complete. */
  array: string;
}

/** Compresses sorted indices into Slurm's array syntax: 2,7,11 or 0-99,120. */
export function arraySpec(indices: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < indices.length; ) {
    let j = i;
    while (j + 1 < indices.length && indices[j + 1] === indices[j] + 1) j++;
    if (j - i >= 2) parts.push(`${indices[i]}-${indices[j]}`);
    else for (let t = i; t <= j; t++) parts.push(String(indices[t]));
    i = j + 1;
  }
  return parts.join(',');
}

export async function planStatus(planDir: string): Promise<PlanStatus> {
  const p = readPlan(planDir);
  const shards: ShardStatus[] = [];
  for (let k = 0; k < p.plan.shards; k++) {
    const { start, end } = shardRange(p.plan.images, p.plan.shards, k);
    const s = await checkShard(p, k);
    shards.push(s.state === 'done'
      ? { index: k, state: 'done', images: end - start, rows: s.marker.rows, failures: s.marker.failures.length }
      : { index: k, state: s.state, images: end - start, reason: s.reason });
  }
  const missing = shards.filter((s) => s.state !== 'done').map((s) => s.index);
  return {
    plan: p.dir, kind: p.plan.kind, images: p.plan.images, shards, done: shards.length - missing.length, missing,
    complete: missing.length === 0, array: missing.length ? `--array=${arraySpec(missing)}` : '',
  };
}
