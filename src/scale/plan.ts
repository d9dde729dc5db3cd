/**
 * A plan: the images of one job listed once (a sorted, hashed manifest) and cut into N fixed shards. Every shard,
 * status and merge reads the plan, never the scheduler's environment, so a resubmitted subset of shards sees the same
 * N and the same images.
 */
import fs from 'node:fs';
import path from 'node:path';
import { openDataset, type DatasetLayout, type Split, type Target } from '../data/dataset.js';
import { collectImages } from '../data/image-files.js';
import { loadModel } from '../models/load.js';
import type { Pooling } from '../train/extract.js';
import { loadClassifier } from '../predict/saved.js';
import { GraftError, errorMessage } from '../util/errors.js';
import { sha256, writeFileAtomic } from '../util/fsutil.js';
import { MANIFEST_FILE, manifestLines, type ManifestEntry } from './manifest.js';

export const PLAN_FILE = 'plan.json';

export type PlanKind = 'extract' | 'predict';

export interface Plan {
  version: 1;
  kind: PlanKind;
  /** Absolute folder the manifest's image paths are relative to. */
  root: string;
  images: number;
  shards: number;
  manifest: { file: string; sha256: string };
  /** The model as given (registry name or absolute path) and its content hash: a shard refuses a different model. */
  model: { spec: string; id: string; hash: string };
  options: { batchSize: number; tap?: string; pooling?: Pooling; top?: number };
  /** Extraction over a labelled dataset: its classes and how the split was drawn (each image's split is in the manifest). */
  dataset?: { layout: DatasetLayout; classes: string[]; notes: string[]; val?: number; seed?: number; target?: Target };
  /** How the emitted scripts run graft (absolute paths, so a batch job finds the same installation). */
  graftCommand: string[];
}

export interface LoadedPlan {
  dir: string;
  plan: Plan;
  /** sha256 of plan.json: every done marker and the merge carry it. */
  hash: string;
  manifest: ManifestEntry[];
}

/** Shard k holds manifest rows [start, end): contiguous, sizes differ by at most one, never padded. */
export function shardRange(images: number, shards: number, k: number): { start: number; end: number } {
  return { start: Math.floor((k * images) / shards), end: Math.floor(((k + 1) * images) / shards) };
}

export interface PlanOptions {
  out: string;
  shards: number;
  batchSize?: number;
  graftCommand: string[];
  log?: (line: string) => void;
}

export interface ExtractPlanOptions extends PlanOptions {
  model?: string;
  tap?: string;
  pooling?: Pooling;
  val?: number;
  seed?: number;
  target?: Target;
}

/** Byte-order sort (not locale order), so every machine lists the same manifest. */
function byImage(a: ManifestEntry, b: ManifestEntry): number {
  return a.image < b.image ? -1 : a.image > b.image ? 1 : 0;
}

function relativeTo(root: string, file: string): string {
  return path.relative(root, file).split(path.sep).join('/');
}

/** A model given as a path is stored absolute, so shards started elsewhere load the same file. */
function modelSpec(spec: string): string {
  return fs.existsSync(spec) ? path.resolve(spec) : spec;
}

/** Plans feature extraction over a dataset (classes and split per image) or over a plain folder of images. */
export async function planExtract(source: string, opts: ExtractPlanOptions): Promise<LoadedPlan> {
  checkShards(opts.shards);
  const model = await loadModel(opts.model ?? undefined);
  let root = path.resolve(source);
  let entries: ManifestEntry[];
  let dataset: Plan['dataset'];
  try {
    const ds = await openDataset(source, { val: opts.val, seed: opts.seed, target: opts.target });
    root = ds.root;
    entries = ds.samples.map((s) => ({ image: relativeTo(root, s.path), class: ds.classes[s.label], split: s.split as Split }));
    dataset = { layout: ds.layout, classes: ds.classes, notes: ds.notes, val: opts.val, seed: opts.seed, target: opts.target };
    for (const s of ds.skipped) opts.log?.(`skipped ${s.path}: ${s.reason}`);
  } catch (err) {
    // A folder of images without class folders is still worth extracting; anything else is the user's to fix.
    if (!(err instanceof GraftError && err.code === 'DATASET' && fs.existsSync(root))) throw err;
    opts.log?.(`${root} is not a labelled dataset (${errorMessage(err).split('\n')[0]}); planning every image below it, without classes`);
    entries = (await collectImages(root)).map((f) => ({ image: relativeTo(root, f) }));
  }
  const options = { batchSize: opts.batchSize ?? 32, tap: opts.tap ?? 'features', pooling: opts.pooling ?? 'avg' };
  return writePlan(opts, { kind: 'extract', root, model: { spec: modelSpec(opts.model ?? model.id), id: model.id, hash: model.hash }, options, dataset }, entries);
}

/** Plans batch prediction of every image below `folder` with a classifier exported by `graft train`. */
export async function planPredict(modelFile: string, folder: string, opts: PlanOptions & { top?: number }): Promise<LoadedPlan> {
  checkShards(opts.shards);
  const model = await loadClassifier(modelFile);
  const root = path.resolve(folder);
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new GraftError('FILE_NOT_FOUND', `image folder not found: ${root}`);
  const entries = (await collectImages(root)).map((f) => ({ image: relativeTo(root, f) }));
  const options = { batchSize: opts.batchSize ?? 32, top: opts.top ?? 5 };
  return writePlan(opts, { kind: 'predict', root, model: { spec: path.resolve(modelFile), id: model.id, hash: model.hash }, options }, entries);
}

function checkShards(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new GraftError('BAD_ARGUMENT', `--shards must be a positive integer, got ${n}`);
}

async function writePlan(opts: PlanOptions, fields: Pick<Plan, 'kind' | 'root' | 'model' | 'options' | 'dataset'>, unsorted: ManifestEntry[]): Promise<LoadedPlan> {
  const manifest = [...unsorted].sort(byImage);
  if (!manifest.length) throw new GraftError('DATASET', `no images found in ${fields.root}`);
  const dup = manifest.find((e, i) => i > 0 && e.image === manifest[i - 1].image);
  if (dup) throw new GraftError('DATASET', `${dup.image} is listed twice`);
  const manifestText = manifestLines(manifest);
  const plan: Plan = {
    version: 1, ...fields, images: manifest.length, shards: opts.shards,
    manifest: { file: MANIFEST_FILE, sha256: sha256(manifestText) },
    graftCommand: opts.graftCommand,
  };
  if (!plan.dataset) delete plan.dataset;
  const dir = path.resolve(opts.out);
  const planText = JSON.stringify(plan, null, 2) + '\n';
  const planFile = path.join(dir, PLAN_FILE);
  if (fs.existsSync(planFile)) {
    // Re-planning the same job is harmless; a different job in the same folder would orphan the shards' work.
    const existing = fs.readFileSync(planFile, 'utf8');
    if (existing !== planText) {
      throw new GraftError('BAD_ARGUMENT', `${dir} already holds a different plan (${PLAN_FILE}); choose a new --out folder (graft never deletes a plan's results)`);
    }
  } else {
    await writeFileAtomic(path.join(dir, MANIFEST_FILE), manifestText);
    await writeFileAtomic(planFile, planText);
  }
  await fs.promises.mkdir(path.join(dir, 'logs'), { recursive: true });
  return { dir, plan, hash: sha256(planText), manifest };
}

/** Reads and checks P/plan.json and its manifest (hash). */
export function readPlan(dir: string): LoadedPlan {
  const abs = path.resolve(dir);
  const planFile = path.join(abs, PLAN_FILE);
  let planText: string;
  try {
    planText = fs.readFileSync(planFile, 'utf8');
  } catch {
    throw new GraftError('FILE_NOT_FOUND', `${planFile} not found: make one with \`graft plan extract|predict … --out ${dir}\``);
  }
  let plan: Plan;
  try {
    plan = JSON.parse(planText) as Plan;
  } catch (err) {
    throw new GraftError('BAD_ARGUMENT', `${planFile} is not valid JSON: ${errorMessage(err)}`);
  }
  if (plan.version !== 1 || (plan.kind !== 'extract' && plan.kind !== 'predict')) throw new GraftError('BAD_ARGUMENT', `${planFile}: unknown plan version or kind`);
  const manifestFile = path.join(abs, plan.manifest.file);
  const manifestText = fs.existsSync(manifestFile) ? fs.readFileSync(manifestFile, 'utf8') : '';
  if (sha256(manifestText) !== plan.manifest.sha256) throw new GraftError('CHECKSUM', `${manifestFile} does not match the hash in ${PLAN_FILE}: the manifest was changed or is missing`);
  const manifest = manifestText.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as ManifestEntry);
  if (manifest.length !== plan.images) throw new GraftError('CHECKSUM', `${manifestFile} lists ${manifest.length} images, the plan ${plan.images}`);
  return { dir: abs, plan, hash: sha256(planText), manifest };
}
