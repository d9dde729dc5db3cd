/**
 * Transfer learning in one call (fastai's `fine_tune`, frozen part): dataset → cached backbone features →
 * head trained in TypeScript → evaluation → one exported ONNX file, report and plots.
 */
import fs from 'node:fs';
import path from 'node:path';
import { openDataset, type Dataset as ImageDataset, type Split, type Target } from '../data/dataset.js';
import { loadModel, type GraftModel } from '../models/load.js';
import { DEFAULT_MODEL } from '../models/registry.js';
import { backboneAt, extractFeatures, type Pooling } from './extract.js';
import { exportClassifier } from './export.js';
import { createHead, computeStandardisation, type DenseHead, type HeadKind } from './heads.js';
import { evaluateHead, fitHead, formatEpochRow, type Dataset as FeatureSet, type EpochRow } from './fit.js';
import { argmaxRows, classMetrics, confusionMatrix, mostConfused, topKAccuracy, type ClassMetrics } from './metrics.js';
import type { OptimizerKind } from './optim.js';
import { plotConfusion, plotCurves } from '../viz/plots.js';
import { writeFileAtomic } from '../util/fsutil.js';
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
  plots?: boolean;
  progress?: ProgressSink;
  log?: (line: string) => void;
  /** Called after every head epoch (the studio draws its curves from these). */
  onEpoch?: (row: EpochRow) => void;
  /** Aborting stops the run between extraction batches or before the head is fitted (rejects with the signal's reason); cached features are kept. */
  signal?: AbortSignal;
}

export interface SplitReport {
  n: number;
  accuracy: number;
  top3: number;
  loss: number;
  perClass?: ClassMetrics;
  confusion?: number[][];
  mostConfused?: [string, string, number][];
}

export interface TrainReport {
  classes: string[];
  dataset: { root: string; layout: string; counts: Record<string, number>; notes: string[] };
  model: { id: string; tap: string; featureDim: number };
  head: { kind: HeadKind; hidden: number[]; epochs: number; bestEpoch: number; optimizer: string; lr: number; schedule: string; seed: number };
  val: SplitReport;
  test?: SplitReport;
  history: EpochRow[];
  /** Set when the final head was retrained on train ∪ validation after selection (`val` then describes the selection run). */
  refit?: { epochs: number; images: number };
  skipped: { path: string; reason: string }[];
  timing: { extractSeconds: number; extractedImages: number; cachedImages: number; imagesPerSecond: number; trainSeconds: number; totalSeconds: number };
  files: { model?: string; report?: string; curves?: string; confusion?: string };
}

/** Default head hyper-parameters: Adam on standardised features, a few epochs — converges on both labs. */
export const TRAIN_DEFAULTS = { head: 'linear' as HeadKind, epochs: 30, lr: 1e-3, batchSize: 64, optimizer: 'adam' as OptimizerKind, schedule: 'cosine', weightDecay: 1e-4, seed: 13 };

export async function trainClassifier(datasetRoot: string, opts: TrainOptions = {}): Promise<TrainReport> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const seed = opts.seed ?? TRAIN_DEFAULTS.seed;
  const ds = await openDataset(datasetRoot, { val: opts.val, seed, target: opts.target });
  const model = typeof opts.model === 'object' ? opts.model : await loadModel(opts.model ?? DEFAULT_MODEL, { randomWeights: opts.randomWeights, seed, progress: opts.progress });
  const tap = opts.tap ?? 'features';
  const bySplit = splitSamples(ds);
  if (!bySplit.train.length) throw new GraftError('DATASET', `${datasetRoot}: no training images`);
  log(`dataset ${ds.root} (${ds.layout}): ${ds.classes.length} classes, ${Object.entries(bySplit).map(([k, v]) => `${v.length} ${k}`).join(', ')}`);

  const files = ds.samples.map((s) => s.path);
  const ex = await extractFeatures(model, files, { tap, pooling: opts.pooling, progress: opts.progress, signal: opts.signal, batchSize: opts.batchSize && opts.batchSize <= 64 ? opts.batchSize : 32 });
  opts.signal?.throwIfAborted();
  log(`features: ${ex.extracted} extracted, ${ex.fromCache} from cache, ${ex.failures.length} unreadable (${ex.seconds.toFixed(1)} s)`);
  const rowOf = new Map(ex.rows.map((fileIndex, r) => [fileIndex, r]));
  const sets = {} as Record<Split, FeatureSet>;
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
    onEpoch: (row) => {
      opts.onEpoch?.(row);
      log(formatEpochRow(row, epochs));
    },
  });
  const valReport = val ? splitReport(fit.head as DenseHead, val, ds.classes) : undefined;
  let trained = fit.head as DenseHead;
  let refit: TrainReport['refit'];
  if (opts.refit && val) {
    // Model selection is done: train the same head again on train ∪ validation for the selected number of epochs.
    const all = concatSets(sets.train, val);
    const fresh = createHead({ ...head.config(), standardisation: opts.standardize === false ? undefined : computeStandardisation(all.x, all.n, ex.dim) }, seed);
    const again = fitHead({ ...fitOptions, epochs: fit.bestEpoch, head: fresh, train: all });
    trained = again.head as DenseHead;
    refit = { epochs: fit.bestEpoch, images: all.n };
    log(`refit on train + validation (${all.n} images) for ${fit.bestEpoch} epochs`);
  }
  const trainSeconds = (Date.now() - trainStarted) / 1000;

  const report: TrainReport = {
    classes: ds.classes,
    dataset: { root: ds.root, layout: ds.layout, counts: Object.fromEntries(Object.entries(bySplit).map(([k, v]) => [k, v.length])), notes: ds.notes },
    model: { id: model.id, tap, featureDim: ex.dim },
    head: { kind, hidden, epochs: fit.history.length, bestEpoch: fit.bestEpoch, optimizer: opts.optimizer ?? TRAIN_DEFAULTS.optimizer, lr: opts.lr ?? TRAIN_DEFAULTS.lr, schedule: opts.schedule ?? TRAIN_DEFAULTS.schedule, seed },
    val: valReport ?? { n: 0, accuracy: NaN, top3: NaN, loss: NaN },
    refit,
    test: sets.test.n ? splitReport(trained, sets.test, ds.classes) : undefined,
    history: fit.history,
    skipped: [...ds.skipped, ...ex.failures.map((f) => ({ path: f.path, reason: f.reason }))],
    timing: {
      extractSeconds: ex.seconds, extractedImages: ex.extracted, cachedImages: ex.fromCache,
      imagesPerSecond: ex.extracted ? ex.extracted / ex.seconds : 0, trainSeconds, totalSeconds: 0,
    },
    files: {},
  };

  if (opts.out) {
    await fs.promises.mkdir(opts.out, { recursive: true });
    report.files.model = path.join(opts.out, 'model.onnx');
    await exportClassifier(report.files.model, backboneAt(model, tap, opts.pooling), trained, { labels: ds.classes, backbone: model, tap });
    if (opts.plots !== false) {
      report.files.curves = path.join(opts.out, 'curves.png');
      await plotCurves(fit.history, report.files.curves);
      const shown = report.test ?? report.val;
      if (shown.confusion) {
        report.files.confusion = path.join(opts.out, 'confusion.png');
        await plotConfusion(shown.confusion, ds.classes, report.files.confusion);
      }
    }
    report.files.report = path.join(opts.out, 'report.json');
  }
  report.timing.totalSeconds = (Date.now() - started) / 1000;
  if (report.files.report) await writeFileAtomic(report.files.report, JSON.stringify(report, null, 2));
  return report;
}

function splitSamples(ds: ImageDataset): Record<Split, number[]> {
  const out: Record<Split, number[]> = { train: [], validation: [], test: [] };
  ds.samples.forEach((s, i) => out[s.split].push(i));
  return out;
}

function gather(x: Float32Array, dim: number, ds: ImageDataset, rowOf: Map<number, number>, split: Split): FeatureSet {
  const idx = ds.samples.map((s, i) => (s.split === split && rowOf.has(i) ? i : -1)).filter((i) => i >= 0);
  const out = new Float32Array(idx.length * dim);
  const y = new Int32Array(idx.length);
  idx.forEach((i, r) => {
    const row = rowOf.get(i)!;
    out.set(x.subarray(row * dim, (row + 1) * dim), r * dim);
    y[r] = ds.samples[i].label;
  });
  return { x: out, y, n: idx.length, dim };
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

export function splitReport(head: DenseHead, data: FeatureSet, classes: string[]): SplitReport {
  const ev = evaluateHead(head, data);
  const k = classes.length;
  const pred = argmaxRows(ev.logits, k);
  const confusion = confusionMatrix(data.y, pred, k);
  return {
    n: data.n,
    accuracy: ev.accuracy,
    top3: topKAccuracy(ev.logits, data.y, k, Math.min(3, k)),
    loss: ev.loss,
    perClass: classMetrics(confusion),
    confusion,
    mostConfused: mostConfused(confusion, classes, 1).slice(0, 10),
  };
}
