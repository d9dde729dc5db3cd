/**
 * The done marker: written last by a shard, after its outputs were renamed into place. A shard counts as done only
 * when its marker names this plan (hash) and this shard, and every output it lists exists with the recorded sha256.
 */
import fs from 'node:fs';
import path from 'node:path';
import { sha256File, writeFileAtomic } from '../util/fsutil.js';
import { shardRange, type LoadedPlan } from './plan.js';

export const MARKER_FILE = 'done.json';

export interface ShardFailure {
  /** Manifest row. */
  row: number;
  image: string;
  reason: string;
}

export interface DoneMarker {
  version: 1;
  plan: string;
  shard: number;
  shards: number;
  /** Manifest rows [start, end) this shard covered. */
  range: [number, number];
  /** Rows written (images that loaded); rows + failures = end - start. */
  rows: number;
  /** Feature dimension (extraction). */
  dim?: number;
  failures: ShardFailure[];
  /** Output files in the shard folder: bytes and sha256. */
  outputs: Record<string, { bytes: number; sha256: string }>;
  host: string;
  pid: number;
  seconds: number;
  finished: string;
}

export function shardDir(planDir: string, k: number): string {
  return path.join(planDir, 'shards', `shard-${String(k).padStart(5, '0')}`);
}

export async function writeMarker(planDir: string, marker: DoneMarker): Promise<void> {
  await writeFileAtomic(path.join(shardDir(planDir, marker.shard), MARKER_FILE), JSON.stringify(marker, null, 2) + '\n');
}

export type ShardState =
  | { state: 'done'; marker: DoneMarker }
  | { state: 'missing'; reason: string }
  | { state: 'invalid'; reason: string };

/** Checks shard k's marker against the plan and its outputs' hashes. */
export async function checkShard(p: LoadedPlan, k: number): Promise<ShardState> {
  const dir = shardDir(p.dir, k);
  const file = path.join(dir, MARKER_FILE);
  if (!fs.existsSync(file)) {
    const partial = fs.existsSync(dir) && fs.readdirSync(dir).some((f) => f.includes('.partial-'));
    return { state: 'missing', reason: partial ? 'no done marker; partial output of an interrupted attempt' : 'not run' };
  }
  let m: DoneMarker;
  try {
    m = JSON.parse(await fs.promises.readFile(file, 'utf8')) as DoneMarker;
  } catch {
    return { state: 'invalid', reason: `${MARKER_FILE} is not valid JSON` };
  }
  if (m.plan !== p.hash) return { state: 'invalid', reason: 'marker belongs to a different plan' };
  const { start, end } = shardRange(p.plan.images, p.plan.shards, k);
  if (m.shard !== k || m.shards !== p.plan.shards || m.range?.[0] !== start || m.range?.[1] !== end) return { state: 'invalid', reason: 'marker names another shard or range' };
  if (m.rows + m.failures.length !== end - start) return { state: 'invalid', reason: `marker accounts for ${m.rows + m.failures.length} of ${end - start} images` };
  for (const [name, want] of Object.entries(m.outputs)) {
    const out = path.join(dir, name);
    if (!fs.existsSync(out)) return { state: 'invalid', reason: `output ${name} is missing` };
    if (fs.statSync(out).size !== want.bytes || (await sha256File(out)) !== want.sha256) return { state: 'invalid', reason: `output ${name} does not match its sha256` };
  }
  return { state: 'done', marker: m };
}
