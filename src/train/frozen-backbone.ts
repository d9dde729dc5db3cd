/**
 * Transfer learning in one call (fastai's `fine_tune`, frozen part): dataset → cached backbone features →
 * head trained in TypeScript → evaluation → one exported ONNX file, report and plots.
 */
import fs from 'node:fs';
import path from 'node:path';
import { openDataset, type Dataset, type Split, type Target } from '../data/dataset.js';
import { loadModel, type GraftModel } from '../models/load.js';
import { DEFAULT_MODEL } from '../models/registry.js';
import { backboneAt, extractFeatures, type ExtractResult, type Pooling } from './extract.js';
import { exportClassifier } from './export.js';
import { createHead, computeStandardisation, type DenseHead, type HeadKind } from './heads.js';
import { evaluateHead, fitHead, formatEpochRow, type FeatureSet } from './fit.js';
import type { OptimizerKind } from '../optim/optim.js';
import { splitMetrics } from '../report/split.js';
import { REPORT_SCHEMA_VERSION, type RunReport, type SplitMetrics } from '../report/schema.js';
import { writeRunReport } from '../report/write.js';
import { GraftError } from '../util/errors.js';
import type { ProgressSink } from '../util/progress.js';

export interface TrainOptions {
  model?: string | GraftModel;
  randomWeights?: boolean;
  tap?: string;
  pooling?: Pooling;
  head?: HeadKind;
  hidden?: number[];
  dropout?: number;
  epochs?: number;
  lr?: number;
  batchSize?: number;
  optimizer?: OptimizerKind;
  schedule?: string;
  weightDecay?: number;
  momentum?: number;
  labelSmoothing?: number;
  classWeights?: 'balanced';
  clipNorm?: number;
  earlyStopping?: number;
  /** Standardise features (folded into the first layer at export). */
  standardize?: boolean;
  val?: number;
  /** After training with validation, retrain on train ∪ validation for the best epoch count (sklearn's refit). */
  refit?: boolean;
  seed?: number;
  target?: Target;
  out?: string;
  /** Also write curves.png, confusion.png and top-losses.png (report.json and report.html are always written with `out`). */
  plots?: boolean;
  /** The argv that reproduces the run, recorded in the report (the CLI passes its own). */
  command?: string[];
  progress?: ProgressSink;
  log?: (line: string) => void;
  /** Features extracted elsewhere (merged shards of `graft plan extract`): no dataset scan, no extraction. */
  features?: { dataset: Dataset; extracted: ExtractResult };
}

/** report.json of a run: one schema for every mode (report/schema.ts). */
export type TrainReport = RunReport;

/** Default head hyper-parameters: Adam on standardised features, a few epochs — converges on both labs. */
export const TRAIN_DEFAULTS = { head: 'linear' as HeadKind, epochs: 30, lr: 1e-3, batchSize: 64, optimizer: 'adam' as OptimizerKind, schedule: 'cosine', weightDecay: 1e-4, seed: 13 };

export async function trainClassifier(datasetRoot: string, opts: TrainOptions = {}): Promise<TrainReport> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const seed = opts.seed ?? TRAIN_DEFAULTS.seed;
  const ds = opts.features?.dataset ?? await openDataset(datasetRoot, { val: opts.val, seed, target: opts.target });
  const model = typeof opts.model === 'object' ? opts.model : await loadModel(opts.model ?? DEFAULT_MODEL, { randomWeights: opts.randomWeights, seed, progress: opts.progress });
  const tap = opts.tap ?? 'features';
  const bySplit = splitSamples(ds);
  if (!bySplit.train.length) throw new GraftError('DATASET', `${datasetRoot}: no training images`);
  log(`dataset ${ds.root} (${ds.layout}): ${ds.classes.length} classes, ${Object.entries(bySplit).map(([k, v]) => `${v.length} ${k}`).join(', ')}`);

  const files = ds.samples.map((s) => s.path);
  const ex = opts.features?.extracted ?? await extractFeatures(model, files, { tap, pooling: opts.pooling, progress: opts.progress, batchSize: opts.batchSize && opts.batchSize <= 64 ? opts.batchSize : 32 });
  log(`features: ${ex.extracted} extracted, ${ex.fromCache} from cache, ${ex.failures.length} unreadable (${ex.seconds.toFixed(1)} s)`);
  const rowOf = new Map(ex.rows.map((fileIndex, r) => [fileIndex, r]));
  const sets = {} as Record<Split, FeatureSet & { paths: string[] }>;
  for (const split of ['train', 'validation', 'test'] as Split[]) sets[split] = gather(ex.x, ex.dim, ds, rowOf, split);

  const kind = opts.head ?? TRAIN_DEFAULTS.head;
  const hidden = kind === 'mlp' ? opts.hidden ?? [256] : [];
  const standardisation = opts.standardize === false ? undefined : computeStandardisation(sets.train.x, sets.train.n, ex.dim);
  const head = createHead({ kind, inputDim: ex.dim, nClasses: ds.classes.length, hidden, dropout: kind === 'mlp' ? opts.dropout ?? 0.2 : 0, standardisation }, seed);
  const val = sets.validation.n ? sets.validation : undefined;
  const epochs = opts.epochs ?? TRAIN_DEFAULTS.epochs;
  const trainStarted = Date.now();
  const fitOptions = {
    epochs,
    batchSize: opts.batchSize ?? TRAIN_DEFAULTS.batchSize,
    optimizer: opts.optimizer ?? TRAIN_DEFAULTS.optimizer,
    lr: opts.lr ?? TRAIN_DEFAULTS.lr,
    schedule: opts.schedule ?? TRAIN_DEFAULTS.schedule,
    weightDecay: opts.weightDecay ?? TRAIN_DEFAULTS.weightDecay,
    momentum: opts.momentum,
    labelSmoothing: opts.labelSmoothing,
    classWeights: opts.classWeights,
    clipNorm: opts.clipNorm,
    seed,
  };
  const fit = fitHead({
    ...fitOptions, head, train: sets.train, val,
    earlyStopping: opts.earlyStopping ? { patience: opts.earlyStopping } : undefined,
    onEpoch: (row) => log(formatEpochRow(row, epochs)),
  });
  const valReport = val ? splitReport(fit.head as DenseHead, val, ds.classes, sets.validation.paths) : undefined;
  let trained = fit.head as DenseHead;
  let refit: { epochs: number; images: number } | undefined;
  if (opts.refit && val) {
    // Model selection is done: train the same head again on train ∪ validation for the selected number of epochs.
    const all = concatSets(sets.train, val);
    const fresh = createHead({ ...head.config(), standardisation: opts.standardize === false ? undefined : computeStandardisation(all.x, all.n, ex.dim) }, seed);
    const again = fitHead({ ...fitOptions, epochs: fit.bestEpoch, head: fresh, train: all });
    trained = again.head as DenseHead;
    refit = { epochs: fit.bestEpoch, images: all.n };
    log(`refit on train + validation (${all.n} images) for ${fit.bestEpoch} epochs`);
  }
  const headSeconds = (Date.now() - trainStarted) / 1000;
  const dropout = kind === 'mlp' ? opts.dropout ?? 0.2 : 0;

  const report: TrainReport = {
    schemaVersion: REPORT_SCHEMA_VERSION,
    mode: 'frozen',
    command: opts.command ?? null,
    classes: ds.classes,
    dataset: { root: ds.root, layout: ds.layout, counts: Object.fromEntries(Object.entries(bySplit).map(([k, v]) => [k, v.length])), notes: ds.notes },
    selected: {
      backbones: [{ id: model.id, tap, pooling: opts.pooling ?? 'avg', featureDim: ex.dim }],
      head: { kind, hidden, dropout, standardize: opts.standardize !== false },
      regularisation: { weightDecay: fitOptions.weightDecay, labelSmoothing: opts.labelSmoothing ?? 0, dropout },
      optimizer: { kind: fitOptions.optimizer, lr: fitOptions.lr, schedule: fitOptions.schedule, batchSize: fitOptions.batchSize },
      epochs: { run: fit.history.length, best: fit.bestEpoch, refit: refit?.epochs },
      refit,
      seed,
    },
    val: valReport,
    test: sets.test.n ? splitReport(trained, sets.test, ds.classes, sets.test.paths) : undefined,
    history: fit.history,
    skipped: [...ds.skipped, ...ex.failures.map((f) => ({ path: f.path, reason: f.reason }))],
    timing: {
      totalSeconds: 0, extractSeconds: ex.seconds, extractedImages: ex.extracted, cachedImages: ex.fromCache,
      imagesPerSecond: ex.extracted ? ex.extracted / ex.seconds : 0, headSeconds,
    },
    files: {},
  };

  if (opts.out) {
    await fs.promises.mkdir(opts.out, { recursive: true });
    report.files.model = path.join(opts.out, 'model.onnx');
    await exportClassifier(report.files.model, backboneAt(model, tap, opts.pooling), trained, { labels: ds.classes, backbone: model, tap });
    await writeRunReport(report, opts.out, { plots: opts.plots, startedAt: started });
  } else {
    report.timing.totalSeconds = (Date.now() - started) / 1000;
  }
  return report;
}

function splitSamples(ds: Dataset): Record<Split, number[]> {
  const out: Record<Split, number[]> = { train: [], validation: [], test: [] };
  ds.samples.forEach((s, i) => out[s.split].push(i));
  return out;
}

function gather(x: Float32Array, dim: number, ds: Dataset, rowOf: Map<number, number>, split: Split): FeatureSet & { paths: string[] } {
  const idx = ds.samples.map((s, i) => (s.split === split && rowOf.has(i) ? i : -1)).filter((i) => i >= 0);
  const out = new Float32Array(idx.length * dim);
  const y = new Int32Array(idx.length);
  idx.forEach((i, r) => {
    const row = rowOf.get(i)!;
    out.set(x.subarray(row * dim, (row + 1) * dim), r * dim);
    y[r] = ds.samples[i].label;
  });
  return { x: out, y, n: idx.length, dim, paths: idx.map((i) => ds.samples[i].path) };
}

function concatSets(a: FeatureSet, b: FeatureSet): FeatureSet {
  const x = new Float32Array((a.n + b.n) * a.dim);
  x.set(a.x.subarray(0, a.n * a.dim));
  x.set(b.x.subarray(0, b.n * b.dim), a.n * a.dim);
  const y = new Int32Array(a.n + b.n);
  y.set(Array.from(a.y));
  y.set(Array.from(b.y), a.n);
  return { x, y, n: a.n + b.n, dim: a.dim };
}

/** A head's metrics on a feature set (rows in the order of `paths`). */
export function splitReport(head: DenseHead, data: FeatureSet, classes: string[], paths?: string[]): SplitMetrics {
  return splitMetrics({ scores: evaluateHead(head, data).logits, kind: 'logits', labels: data.y, classes, paths });
}
