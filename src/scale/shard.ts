/**
 * Runs one shard of a plan. Outputs go to temporary files, are fsynced and renamed, and the done marker is written
 * last: a shard killed at any moment leaves no marker, so it is simply run again. Each attempt names its output files
 * uniquely, so two copies of the same shard (a duplicate pod, a rerun racing a straggler) never overwrite each
 * other's file; the marker, replaced atomically, points at one complete attempt.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadModel, type GraftModel } from '../models/load.js';
import { backboneAt } from '../train/extract.js';
import { classify } from '../predict/classify.js';
import { loadClassifier } from '../predict/saved.js';
import { runImages } from '../runtime/runner.js';
import { Session } from '../runtime/session.js';
import { GraftError } from '../util/errors.js';
import { sha256File } from '../util/fsutil.js';
import type { ProgressSink } from '../util/progress.js';
import { checkShard, shardDir, writeMarker, type DoneMarker, type ShardFailure } from './marker.js';
import { readPlan, shardRange, type LoadedPlan } from './plan.js';

/** Environment variables that carry an array task's index, in the order they are tried. */
export const INDEX_VARIABLES = ['JOB_COMPLETION_INDEX', 'SLURM_ARRAY_TASK_ID', 'AWS_BATCH_JOB_ARRAY_INDEX'] as const;

/**
 * Test-only fault injection: a comma-separated list of shard indices that fail half-way (after writing part of their
 * output, before the marker), as a crashed node would. Used by test/scale to make one array task fail.
 */
export const FAIL_SHARDS_VARIABLE = 'GRAFT_SCALE_FAIL_SHARDS';

/** `K` or `auto` → the shard index; the count always comes from the plan. */
export function resolveShardIndex(spec: string, shards: number, env: NodeJS.ProcessEnv = process.env): number {
  let value = spec;
  let from = '--index';
  if (spec === 'auto') {
    const name = INDEX_VARIABLES.find((v) => env[v] !== undefined && env[v] !== '');
    if (!name) throw new GraftError('BAD_ARGUMENT', `--index auto: none of ${INDEX_VARIABLES.join(', ')} is set (not inside an array job?); pass --index K`);
    value = env[name]!;
    from = name;
  }
  const k = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(k)) throw new GraftError('BAD_ARGUMENT', `${from} must be a shard index, got "${value}"`);
  if (k >= shards) throw new GraftError('BAD_ARGUMENT', `${from}=${k} but the plan has ${shards} shards (0–${shards - 1})`);
  return k;
}

export interface ShardResult {
  shard: number;
  skipped: boolean;
  marker: DoneMarker;
}

export async function runShard(planDir: string, indexSpec: string, opts: { force?: boolean; progress?: ProgressSink; log?: (l: string) => void } = {}): Promise<ShardResult> {
  const p = readPlan(planDir);
  const k = resolveShardIndex(indexSpec, p.plan.shards);
  if (!opts.force) {
    const state = await checkShard(p, k);
    if (state.state === 'done') return { shard: k, skipped: true, marker: state.marker };
    if (state.state === 'invalid') opts.log?.(`shard ${k}: existing marker is invalid (${state.reason}); running it again`);
  }
  const started = Date.now();
  const dir = shardDir(p.dir, k);
  await fs.promises.mkdir(dir, { recursive: true });
  const attempt = `${os.hostname()}-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  const { start, end } = shardRange(p.plan.images, p.plan.shards, k);
  const files = p.manifest.slice(start, end).map((e) => path.join(p.plan.root, e.image));
  const failAt = failInjected(k) ? Math.floor(files.length / 2) : -1;
  const failures: ShardFailure[] = [];
  const onFailure = (i: number, reason: string) => failures.push({ row: start + i, image: p.manifest[start + i].image, reason });
  const run = p.plan.kind === 'extract' ? extractShard : predictShard;
  const out = await run(p, files, { dir, start, attempt, failAt, onFailure, progress: opts.progress });
  failures.sort((a, b) => a.row - b.row);
  if (out.rows + failures.length !== files.length) {
    throw new GraftError('RUNTIME', `shard ${k}: ${out.rows} rows + ${failures.length} failures ≠ ${files.length} images`);
  }
  const bytes = (await fs.promises.stat(path.join(dir, out.file))).size;
  const marker: DoneMarker = {
    version: 1, plan: p.hash, shard: k, shards: p.plan.shards, range: [start, end], rows: out.rows, dim: out.dim, failures,
    outputs: { [out.file]: { bytes, sha256: await sha256File(path.join(dir, out.file)) } },
    host: os.hostname(), pid: process.pid, seconds: (Date.now() - started) / 1000, finished: new Date().toISOString(),
  };
  if (marker.dim === undefined) delete marker.dim;
  await writeMarker(p.dir, marker);
  return { shard: k, skipped: false, marker };
}

function failInjected(k: number): boolean {
  return (process.env[FAIL_SHARDS_VARIABLE] ?? '').split(',').some((s) => s.trim() !== '' && Number(s) === k);
}

interface ShardIo {
  dir: string;
  /** Manifest row of files[0]. */
  start: number;
  attempt: string;
  /** Fail (fault injection) once this many images were written; -1: never. */
  failAt: number;
  onFailure: (i: number, reason: string) => void;
  progress?: ProgressSink;
}

/** Output file name (renamed into place) and the rows it holds. */
interface ShardOutput { file: string; rows: number; dim?: number }

/** The plan's model, refusing a file whose content changed since the plan was made. */
export async function checkedModel(p: LoadedPlan): Promise<GraftModel> {
  const m = p.plan.kind === 'predict' ? await loadClassifier(p.plan.model.spec) : await loadModel(p.plan.model.spec);
  if (m.hash !== p.plan.model.hash) {
    throw new GraftError('CHECKSUM', `model ${p.plan.model.spec} has changed since the plan was made (hash ${m.hash.slice(0, 12)}…, plan ${p.plan.model.hash.slice(0, 12)}…)`);
  }
  return m;
}

/** Writes to `<name>.partial-<attempt>`, then fsync + rename to `<stem>-<attempt><ext>`. */
async function withOutput(io: ShardIo, stem: string, ext: string, write: (fh: fs.promises.FileHandle) => Promise<number>): Promise<{ file: string; rows: number }> {
  const file = `${stem}-${io.attempt}${ext}`;
  const partial = path.join(io.dir, `${stem}${ext}.partial-${io.attempt}`);
  const fh = await fs.promises.open(partial, 'w');
  let rows: number;
  try {
    rows = await write(fh);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(partial, path.join(io.dir, file));
  return { file, rows };
}

function injectFault(io: ShardIo, written: number): void {
  if (io.failAt >= 0 && written >= io.failAt) throw new GraftError('RUNTIME', `fault injected by ${FAIL_SHARDS_VARIABLE} after ${written} images`);
}

/** Features as raw little-endian float32 rows ([rows, dim], rows in manifest order); the merge adds the .npy header. */
async function extractShard(p: LoadedPlan, files: string[], io: ShardIo): Promise<ShardOutput> {
  const m = await checkedModel(p);
  const backbone = backboneAt(m, p.plan.options.tap, p.plan.options.pooling);
  const session = await Session.create(backbone.model);
  try {
    const out = await withOutput(io, 'features', '.f32', async (fh) => {
      let rows = 0;
      let last = -1;
      for await (const batch of runImages({ ...m, model: backbone.model }, session, [backbone.output], files, {
        batchSize: p.plan.options.batchSize, progress: io.progress, onFailure: (f) => io.onFailure(files.indexOf(f.path), f.reason),
      })) {
        if (batch.indices.some((i) => i <= last)) throw new GraftError('RUNTIME', 'image runner returned rows out of order');
        last = batch.indices[batch.indices.length - 1];
        const data = batch.outputs[backbone.output].data;
        await fh.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        rows += batch.indices.length;
        injectFault(io, rows);
      }
      return rows;
    });
    return { ...out, dim: backbone.dim };
  } finally {
    await session.release();
  }
}

/** Chunks bound memory on big shards: classify() keeps one chunk's results. */
const PREDICT_CHUNK = 2048;

/** One `{"image", "predictions"}` JSON line per image that loaded, in manifest order. */
async function predictShard(p: LoadedPlan, files: string[], io: ShardIo): Promise<ShardOutput> {
  const m = await checkedModel(p);
  const start = io.start;
  return withOutput(io, 'predictions', '.jsonl', async (fh) => {
    let rows = 0;
    for (let c = 0; c < files.length; c += PREDICT_CHUNK) {
      const chunk = files.slice(c, c + PREDICT_CHUNK);
      const results = await classify(m, chunk, { top: p.plan.options.top, batchSize: Math.min(p.plan.options.batchSize, chunk.length), progress: io.progress });
      let text = '';
      results.forEach((r, i) => {
        if (r.error) return io.onFailure(c + i, r.error);
        text += JSON.stringify({ image: p.manifest[start + c + i].image, predictions: r.predictions }) + '\n';
        rows++;
        injectFault(io, rows);
      });
      await fh.write(text);
    }
    return rows;
  });
}
