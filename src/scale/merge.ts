/**
 * Merges the shards of a complete plan into P/merged/: features.npy + index.jsonl (extraction) or predictions.jsonl
 * (prediction), plus failures.jsonl and a done marker. Refuses unless every shard's marker is valid for this plan, so
 * each manifest image appears exactly once: as one row, or as one failure with its reason.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Dataset, Split } from '../data/dataset.js';
import type { ExtractResult } from '../train/extract.js';
import type { ImageFailure } from '../image/batch.js';
import { GraftError } from '../util/errors.js';
import { sha256File, writeFileAtomic } from '../util/fsutil.js';
import { npyHeader, readNpy } from '../util/npy.js';
import { checkShard, shardDir, type DoneMarker, type ShardFailure } from './marker.js';
import { readPlan, type LoadedPlan } from './plan.js';
import { checkedModel } from './shard.js';
import type { GraftModel } from '../models/load.js';
import { arraySpec } from './status.js';

export const MERGED_DIR = 'merged';

export interface MergeResult {
  dir: string;
  kind: 'extract' | 'predict';
  rows: number;
  failures: number;
  dim?: number;
  files: string[];
}

interface MergedMarker { version: 1; plan: string; rows: number; failures: number; dim?: number; outputs: Record<string, { bytes: number; sha256: string }> }

export async function mergePlan(planDir: string): Promise<MergeResult> {
  const p = readPlan(planDir);
  const markers: DoneMarker[] = [];
  const missing: { k: number; reason: string }[] = [];
  for (let k = 0; k < p.plan.shards; k++) {
    const s = await checkShard(p, k);
    if (s.state === 'done') markers.push(s.marker);
    else missing.push({ k, reason: s.reason });
  }
  if (missing.length) {
    const shown = missing.slice(0, 10).map((m) => `${m.k} (${m.reason})`).join(', ');
    throw new GraftError('DATASET', `cannot merge ${p.dir}: ${missing.length} of ${p.plan.shards} shards are not done: ${shown}${missing.length > 10 ? ', …' : ''}; run them (--array=${arraySpec(missing.map((m) => m.k))}) and merge again`);
  }
  const out = path.join(p.dir, MERGED_DIR);
  await fs.promises.mkdir(out, { recursive: true });
  const failures = markers.flatMap((m) => m.failures);
  const rows = markers.reduce((a, m) => a + m.rows, 0);
  const files: string[] = [];
  let dim: number | undefined;
  if (p.plan.kind === 'extract') {
    dim = markers.find((m) => m.rows > 0)?.dim ?? markers[0].dim ?? 0;
    if (markers.some((m) => m.rows > 0 && m.dim !== dim)) throw new GraftError('SHAPE', 'shards disagree on the feature dimension');
    files.push(await concatenate(path.join(out, 'features.npy'), npyHeader([rows, dim]), markers.map((m) => shardOutput(p, m))));
    files.push(await writeLines(path.join(out, 'index.jsonl'), indexLines(p, failures)));
  } else {
    files.push(await writeLines(path.join(out, 'predictions.jsonl'), await predictionLines(p, markers)));
  }
  files.push(await writeLines(path.join(out, 'failures.jsonl'), failures.map((f) => JSON.stringify(f))));
  const marker: MergedMarker = { version: 1, plan: p.hash, rows, failures: failures.length, dim, outputs: {} };
  for (const f of files) marker.outputs[path.basename(f)] = { bytes: (await fs.promises.stat(f)).size, sha256: await sha256File(f) };
  await writeFileAtomic(path.join(out, 'done.json'), JSON.stringify(marker, null, 2) + '\n');
  return { dir: out, kind: p.plan.kind, rows, failures: failures.length, dim, files };
}

function shardOutput(p: LoadedPlan, m: DoneMarker): string {
  return path.join(shardDir(p.dir, m.shard), Object.keys(m.outputs)[0]);
}

/** Streams header + parts into target through a temp file and a rename (merged features may not fit in memory). */
async function concatenate(target: string, header: Uint8Array, parts: string[]): Promise<string> {
  const tmp = `${target}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const fh = await fs.promises.open(tmp, 'w');
  try {
    await fh.write(header);
    for (const part of parts) {
      for await (const chunk of fs.createReadStream(part, { highWaterMark: 1 << 22 })) await fh.write(chunk as Buffer);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, target);
  return target;
}

async function writeLines(target: string, lines: string[]): Promise<string> {
  await writeFileAtomic(target, lines.map((l) => l + '\n').join(''));
  return target;
}

/** Row r of features.npy: the manifest images that loaded, in manifest order. */
function indexLines(p: LoadedPlan, failures: ShardFailure[]): string[] {
  const failed = new Set(failures.map((f) => f.row));
  const lines: string[] = [];
  p.manifest.forEach((e, i) => {
    if (!failed.has(i)) lines.push(JSON.stringify({ row: lines.length, image: e.image, class: e.class ?? null, split: e.split ?? null }));
  });
  return lines;
}

/** One line per manifest image, in manifest order; an image that could not be read gets `"error"` and no predictions. */
async function predictionLines(p: LoadedPlan, markers: DoneMarker[]): Promise<string[]> {
  const lines: string[] = [];
  for (const m of markers) {
    const ok = (await fs.promises.readFile(shardOutput(p, m), 'utf8')).split('\n').filter((l) => l.length > 0);
    const failed = new Map(m.failures.map((f) => [f.row, f.reason]));
    let next = 0;
    for (let row = m.range[0]; row < m.range[1]; row++) {
      const reason = failed.get(row);
      if (reason !== undefined) lines.push(JSON.stringify({ image: p.manifest[row].image, predictions: [], error: reason }));
      else lines.push(ok[next++]);
    }
    if (next !== ok.length) throw new GraftError('CHECKSUM', `shard ${m.shard}: ${ok.length} prediction lines for ${next} images`);
  }
  return lines;
}

export interface MergedFeatures {
  plan: LoadedPlan;
  /** The plan's dataset as graft train sees it: every manifest image is a sample, in manifest order. */
  dataset: Dataset;
  /** The merged features in the shape extractFeatures returns (rows index the samples). */
  extracted: ExtractResult;
  /** The backbone the features came from (the exported classifier is this backbone + the head). */
  model: GraftModel;
}

/** Loads P/merged/ of a merged extraction plan over a labelled dataset, for training a head. */
export async function loadMergedFeatures(planDir: string): Promise<MergedFeatures> {
  const p = readPlan(planDir);
  if (p.plan.kind !== 'extract') throw new GraftError('BAD_ARGUMENT', `${p.dir} is a ${p.plan.kind} plan; --features needs an extraction plan`);
  const ds = p.plan.dataset;
  if (!ds) throw new GraftError('DATASET', `${p.dir} was planned over a folder without classes; training needs a labelled dataset`);
  const out = path.join(p.dir, MERGED_DIR);
  const markerFile = path.join(out, 'done.json');
  const marker = fs.existsSync(markerFile) ? (JSON.parse(fs.readFileSync(markerFile, 'utf8')) as MergedMarker) : undefined;
  if (!marker || marker.plan !== p.hash) throw new GraftError('FILE_NOT_FOUND', `${out} holds no merge of this plan: run \`graft merge ${planDir}\` first`);
  const { data, shape } = readNpy(path.join(out, 'features.npy'));
  const failures: ShardFailure[] = fs.readFileSync(path.join(out, 'failures.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ShardFailure);
  const failed = new Set(failures.map((f) => f.row));
  const rows = p.manifest.map((_, i) => i).filter((i) => !failed.has(i));
  if (shape.length !== 2 || shape[0] !== rows.length) throw new GraftError('SHAPE', `features.npy has shape [${shape.join(', ')}], expected ${rows.length} rows`);
  const classIndex = new Map(ds.classes.map((c, i) => [c, i]));
  const dataset: Dataset = {
    root: p.plan.root, layout: ds.layout, classes: ds.classes, notes: [...ds.notes, `features from the merged plan ${p.dir}`], skipped: [],
    samples: p.manifest.map((e) => ({ path: path.join(p.plan.root, e.image), label: classIndex.get(e.class ?? '') ?? -1, split: (e.split ?? 'train') as Split })),
  };
  const failuresAsImages: ImageFailure[] = failures.map((f) => ({ path: path.join(p.plan.root, f.image), index: f.row, reason: f.reason }));
  return { plan: p, dataset, model: await checkedModel(p), extracted: { x: data, dim: shape[1], rows, failures: failuresAsImages, extracted: 0, fromCache: rows.length, seconds: 0 } };
}
