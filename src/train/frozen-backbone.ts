/**
 * Transfer learning in one call (fastai's `fine_tune`, frozen part): dataset → cached backbone features →
 * head trained in TypeScript → evaluation → one exported ONNX file, report and plots.
 */
import fs from 'node:fs';
import path from 'node:path';
import { openDataset, type Dataset, type Split, type Target } from '../data/dataset.js';
import { loadModel, type GraftModel } from '../models/load.js';
import { DEFAULT_MODEL } from '../models/registry.js';
import { backboneAt, extractConcatenated, type ExtractResult, type Pooling } from './extract.js';
import { exportClassifier, type Tta } from './export.js';
import { createHead, computeStandardisation, standardise, type DenseHead, type HeadKind } from './heads.js';
import { LogisticProblem } from './logistic.js';
import { StackedHeads, logLoss, type StackingSummary } from './stacking.js';
import { fitLogistic, selectWeightDecay, withMirrors, type CvScore, type Selection } from './select.js';
import { evaluateHead, fitHead, formatEpochRow, type FeatureSet } from './fit.js';
import type { EpochRow } from '../report/history.js';
import type { OptimizerKind } from '../optim/optim.js';
import { plotLrFind } from '../report/plots.js';
import { splitMetrics } from '../report/split.js';
import { REPORT_SCHEMA_VERSION, type RunReport, type SplitMetrics } from '../report/schema.js';
import { writeRunReport } from '../report/write.js';
import { softmaxRows } from '../math/rows.js';
import { lrFind, type LrFindOptions, type LrFindResult } from './lrfind.js';
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
  /** Linear head: 'lbfgs' (default: full batch, weight decay by CV unless given) or 'sgd' (mini-batch, the MLP path). */
  solver?: 'lbfgs' | 'sgd';
  /** Folds of the weight-decay cross-validation (default 5). */
  cvFolds?: number;
  /** Linear head: 'flip' also trains on the features of every image's mirror image; 'auto' (default) does so when a class has fewer than 100 training images. */
  augment?: 'auto' | 'flip' | 'none';
  /**
   * Several backbones, linear head: false fits one head on the concatenated features; by default the per-backbone
   * heads are also fitted and stacked (src/train/stacking.ts), and the lower out-of-fold log loss wins.
   */
  stacking?: boolean;
  /** Test-time augmentation in the reported numbers: 'flip' averages each image with its mirror image. */
  tta?: Tta;
  /** TTA baked into the exported model.onnx (default: the same as tta). */
  exportTta?: Tta;
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
  /** Called after every epoch of a mini-batch head (the studio draws its curves from these). */
  onEpoch?: (row: EpochRow) => void;
  /** Aborting stops the run between extraction batches or before the head is fitted (rejects with the signal's reason); cached features are kept. */
  signal?: AbortSignal;
}

/** What the defaults chose, and from what evidence (report.selected.head). */
export interface HeadSelection {
  kind: HeadKind;
  solver: string;
  weightDecay: number;
  epochs?: number;
  cvFolds?: number;
  cvScores?: CvScore[];
  selectedOn?: 'validation' | 'none';
  fittedOn?: number;
  /** Training-time augmentation of the features: 'flip' adds every image's mirror image. */
  augment?: 'flip' | 'none';
  /** Several backbones: the stacked per-backbone heads, compared with the one head on their concatenated features. */
  stacking?: StackingSummary;
  iterations?: number;
  evaluations?: number;
}

/** report.json of a run: one schema for every mode (report/schema.ts). */
export type TrainReport = RunReport;

/** Default head hyper-parameters: Adam on standardised features, a few epochs — converges on both labs. */
export const TRAIN_DEFAULTS = { head: 'linear' as HeadKind, epochs: 30, lr: 1e-3, batchSize: 64, optimizer: 'adam' as OptimizerKind, schedule: 'cosine', weightDecay: 1e-4, seed: 13, augment: 'auto' as 'auto' | 'flip' | 'none' };

export async function trainClassifier(datasetRoot: string, opts: TrainOptions = {}): Promise<TrainReport> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const seed = opts.seed ?? TRAIN_DEFAULTS.seed;
  // Without an explicit validation split, nothing is held out: cross-validation selects, every labelled image trains.
  // Without an explicit validation split, nothing is held out: cross-validation selects, every labelled image trains.
  const ds = opts.features?.dataset ?? await openDataset(datasetRoot, { val: opts.val ?? 0, seed, target: opts.target });
  const models = await loadModels(opts.model, { randomWeights: opts.randomWeights, seed, progress: opts.progress });
  const tap = opts.tap ?? 'features';
  const tta = opts.tta ?? 'none';
  const bySplit = splitSamples(ds);
  if (!bySplit.train.length) throw new GraftError('DATASET', `${datasetRoot}: no training images`);
  log(`dataset ${ds.root} (${ds.layout}): ${ds.classes.length} classes, ${Object.entries(bySplit).map(([k, v]) => `${v.length} ${k}`).join(', ')}`);

  const files = ds.samples.map((s) => s.path);
  const batchSize = opts.batchSize && opts.batchSize <= 64 ? opts.batchSize : 32;
  const kind = opts.head ?? TRAIN_DEFAULTS.head;
  // Merged shard features have no mirror images, so 'auto' means none there; an explicit 'flip' is refused below.
  const augment = opts.features && (opts.augment ?? TRAIN_DEFAULTS.augment) === 'auto' ? 'none' : resolveAugment(opts.augment ?? TRAIN_DEFAULTS.augment, ds, bySplit.train);
  const mirrorTraining = augment === 'flip' && kind === 'linear' && opts.solver !== 'sgd';
  if (opts.features && (mirrorTraining || tta === 'flip')) throw new GraftError('BAD_ARGUMENT', 'train --features: merged shard features have no mirror images, so --augment flip and --tta flip are not available');
  const ex = opts.features?.extracted ?? await extractConcatenated(models, files, { tap, pooling: opts.pooling, progress: opts.progress, batchSize, signal: opts.signal });
  const exFlip = tta === 'flip' || mirrorTraining ? await extractConcatenated(models, files, { tap, pooling: opts.pooling, progress: opts.progress, batchSize, flip: true, signal: opts.signal }) : undefined;
  opts.signal?.throwIfAborted();
  log(`features: ${ex.extracted + (exFlip?.extracted ?? 0)} extracted, ${ex.fromCache + (exFlip?.fromCache ?? 0)} from cache, ${ex.failures.length} unreadable (${(ex.seconds + (exFlip?.seconds ?? 0)).toFixed(1)} s)${models.length > 1 ? `; ${models.map((m) => m.id).join(' ‖ ')} = ${ex.dim} dims` : ''}`);
  const rowOf = new Map(ex.rows.map((fileIndex, r) => [fileIndex, r]));
  const sets = {} as Record<Split, FeatureSet & { paths: string[] }>;
  const flipped = {} as Record<Split, FeatureSet>;
  for (const split of ['train', 'validation', 'test'] as Split[]) {
    sets[split] = gather(ex.x, ex.dim, ds, rowOf, split);
    if (exFlip) flipped[split] = gather(exFlip.x, exFlip.dim, ds, new Map(exFlip.rows.map((fileIndex, r) => [fileIndex, r])), split);
  }
  const val = sets.validation.n ? sets.validation : undefined;
  const trainStarted = Date.now();
  const blockDims = models.length > 1 ? models.map((m) => backboneAt(m, tap, opts.pooling).dim) : [ex.dim];
  const ctx: HeadContext = { kind, sets, flipped: exFlip ? flipped : undefined, val, dim: ex.dim, blockDims, nClasses: ds.classes.length, seed, opts: { ...opts, augment }, log };
  const trained = kind === 'linear' && opts.solver !== 'sgd' ? await trainLinearCv(ctx) : trainIterative(ctx);
  const headSeconds = (Date.now() - trainStarted) / 1000;
  const evalSplit = (head: DenseHead, split: Split) => splitReport(head, sets[split], ds.classes, sets[split].paths, tta === 'flip' ? flipped[split] : undefined);
  const sel = trained.selected;
  const dropout = kind === 'mlp' ? opts.dropout ?? 0.2 : 0;

  const report: TrainReport = {
    schemaVersion: REPORT_SCHEMA_VERSION,
    mode: 'frozen',
    command: opts.command ?? null,
    classes: ds.classes,
    dataset: { root: ds.root, layout: ds.layout, counts: Object.fromEntries(Object.entries(bySplit).map(([k, v]) => [k, v.length])), notes: ds.notes },
    selected: {
      backbones: models.map((m) => ({ id: m.id, tap, pooling: opts.pooling ?? 'avg', featureDim: models.length === 1 ? ex.dim : backboneAt(m, tap, opts.pooling).dim })),
      head: { kind, hidden: trained.summary.hidden, dropout, standardize: opts.standardize !== false },
      regularisation: { weightDecay: sel.stacking?.kept ? undefined : sel.weightDecay, labelSmoothing: opts.labelSmoothing ?? 0, dropout, augment: sel.augment ?? 'none' },
      optimizer: { kind: trained.summary.optimizer, lr: trained.summary.lr, schedule: trained.summary.schedule, batchSize: kind === 'linear' && opts.solver !== 'sgd' ? undefined : opts.batchSize ?? TRAIN_DEFAULTS.batchSize },
      // A full-batch solve has iterations (in `search`), not epochs.
      epochs: trained.history.length ? { run: trained.summary.epochs, best: trained.summary.bestEpoch, refit: trained.refit?.epochs } : undefined,
      refit: trained.refit,
      search: { solver: sel.solver, weightDecay: sel.weightDecay, stacking: sel.stacking, cvFolds: sel.cvFolds, cvScores: sel.cvScores, selectedOn: sel.selectedOn, fittedOn: sel.fittedOn, augment: sel.augment, iterations: sel.iterations, evaluations: sel.evaluations },
      tta,
      seed,
    },
    val: trained.valHead && val ? evalSplit(trained.valHead, 'validation') : undefined,
    test: sets.test.n ? evalSplit(trained.head, 'test') : undefined,
    history: trained.history,
    skipped: [...ds.skipped, ...ex.failures.map((f) => ({ path: f.path, reason: f.reason }))],
    timing: {
      totalSeconds: 0, extractSeconds: ex.seconds + (exFlip?.seconds ?? 0), extractedImages: ex.extracted + (exFlip?.extracted ?? 0), cachedImages: ex.fromCache + (exFlip?.fromCache ?? 0),
      imagesPerSecond: ex.extracted ? ex.extracted / ex.seconds : 0, headSeconds,
    },
    files: {},
  };

  if (opts.out) {
    await fs.promises.mkdir(opts.out, { recursive: true });
    report.files.model = path.join(opts.out, 'model.onnx');
    await exportClassifier(report.files.model, models.map((m) => ({ model: m, backbone: backboneAt(m, tap, opts.pooling) })), trained.head, { labels: ds.classes, tap, tta: opts.exportTta ?? tta });
    await writeRunReport(report, opts.out, { plots: opts.plots, startedAt: started });
  } else {
    report.timing.totalSeconds = (Date.now() - started) / 1000;
  }
  return report;
}

/**
 * Mirror-image features double extraction; they pay where labelled images are few (Oxford pets: ~20 per class,
 * +0.6–0.8 points) and not where they are many (cats vs dogs: 1000 per class). 'auto' mirrors when the smallest
 * class has fewer than AUTO_MIRROR_BELOW training images.
 */
const AUTO_MIRROR_BELOW = 100;
function resolveAugment(setting: 'auto' | 'flip' | 'none', ds: Dataset, trainRows: number[]): 'flip' | 'none' {
  if (setting !== 'auto') return setting;
  const perClass = new Array<number>(ds.classes.length).fill(0);
  for (const i of trainRows) perClass[ds.samples[i].label]++;
  return Math.min(...perClass) < AUTO_MIRROR_BELOW ? 'flip' : 'none';
}

/** `a,b,c` (or one GraftModel) → the backbones, loaded once each. */
async function loadModels(spec: string | GraftModel | undefined, opts: { randomWeights?: boolean; seed: number; progress?: ProgressSink }): Promise<GraftModel[]> {
  if (typeof spec === 'object') return [spec];
  const names = (spec ?? DEFAULT_MODEL).split(',').map((s) => s.trim()).filter(Boolean);
  if (!names.length) throw new GraftError('BAD_ARGUMENT', '--model: no model named');
  if (new Set(names).size !== names.length) throw new GraftError('BAD_ARGUMENT', `--model ${names.join(',')}: a model is named twice`);
  const out: GraftModel[] = [];
  for (const name of names) out.push(await loadModel(name, opts));
  return out;
}

interface HeadContext {
  kind: HeadKind;
  sets: Record<Split, FeatureSet>;
  /** Features of the mirrored images, when extracted (TTA or training-time flip). */
  flipped?: Record<Split, FeatureSet>;
  val?: FeatureSet;
  dim: number;
  /** Feature dimensions of each backbone (the columns of the concatenated features, in order). */
  blockDims: number[];
  nClasses: number;
  seed: number;
  opts: TrainOptions;
  log: (line: string) => void;
}

interface TrainedHead {
  /** The head to export and test. */
  head: DenseHead;
  /** The head fitted on the training split only (what the validation split reports). */
  valHead?: DenseHead;
  summary: HeadSummary;
  selected: HeadSelection;
  history: EpochRow[];
  refit?: { epochs?: number; images: number };
}

/** How the head was trained (the report's selected.head / optimizer / epochs are built from it). */
interface HeadSummary { kind: HeadKind; hidden: number[]; epochs: number; bestEpoch: number; optimizer: string; lr?: number; schedule: string; seed: number }

/**
 * Default linear head: L-BFGS on the full batch (onnxruntime graph), weight decay chosen by k-fold CV on the
 * training split, then refitted on every labelled non-test image. With a validation split, the head fitted on
 * train alone is what the validation numbers describe.
 */
async function trainLinearCv(ctx: HeadContext): Promise<TrainedHead> {
  const { sets, flipped, val, dim, blockDims, nClasses, seed, opts, log } = ctx;
  const all = val ? concatSets(sets.train, val) : sets.train;
  // Training-time flip: the mirrored images are extra rows after the originals (row r + all.n mirrors row r).
  const mirror = (opts.augment ?? TRAIN_DEFAULTS.augment) === 'flip' && flipped ? (val ? concatSets(flipped.train, flipped.validation) : flipped.train) : undefined;
  const rowsData = mirror ? concatSets(all, mirror) : all;
  const standardisation = opts.standardize === false ? undefined : computeStandardisation(rowsData.x, rowsData.n, dim);
  const x = standardise(rowsData, standardisation);
  const problem = await LogisticProblem.create({ x, y: rowsData.y, n: rowsData.n, dim, nClasses });
  let stacked: StackedHeads | undefined;
  try {
    const mirrorOffset = mirror ? all.n : undefined;
    const trainRows = withMirrors(Array.from({ length: sets.train.n }, (_, i) => i), mirrorOffset);
    const allRows = withMirrors(Array.from({ length: all.n }, (_, i) => i), mirrorOffset);
    let weightDecay = opts.weightDecay;
    let selection: Selection | undefined;
    let stacking: StackingSummary | undefined;
    let cvRuns = 0;
    const cvRows = Array.from({ length: sets.train.n }, (_, i) => i);
    const tryStacking = blockDims.length > 1 && opts.stacking !== false;
    if (weightDecay === undefined) {
      // The CV sees only the training rows: with a validation split it gets its own problem without the validation
      // rows (and their mirrors), which every evaluation would otherwise multiply by zero (a third of the work on
      // cats vs dogs). Its rows: the training images, then their mirrors.
      const cvData = val ? selectRows(x, rowsData.y, trainRows, dim) : undefined;
      const cvProblem = cvData ? await LogisticProblem.create({ ...cvData, n: trainRows.length, dim, nClasses }) : problem;
      try {
        selection = await selectWeightDecay(cvProblem, { rows: cvRows, labels: cvData?.y ?? rowsData.y, folds: opts.cvFolds, seed, mirrorOffset: mirror ? (cvData ? sets.train.n : all.n) : undefined, outOfFold: tryStacking, log });
        cvRuns = cvProblem === problem ? 0 : cvProblem.runs;
      } finally {
        if (cvProblem !== problem) await cvProblem.release();
      }
      weightDecay = selection.weightDecay;
      if (tryStacking) {
        // The training rows come first in `all`, so the block problems' CV rows (and folds) are the concatenated head's.
        stacked = await StackedHeads.select({ x, y: rowsData.y, n: rowsData.n, dims: blockDims, nClasses }, { rows: cvRows, labels: rowsData.y, folds: opts.cvFolds, seed, mirrorOffset: mirror ? all.n : undefined, log });
        const concatenatedLoss = logLoss(selection.outOfFold!, cvRows.map((r) => rowsData.y[r]), nClasses);
        const kept = stacked.cvLoss < concatenatedLoss;
        stacking = stacked.summary(concatenatedLoss, kept);
        log(`stacking ${blockDims.length} per-backbone heads: weights ${stacked.weights.map((w) => w.toFixed(3)).join(', ')}, out-of-fold log loss ${stacked.cvLoss.toFixed(4)} vs ${concatenatedLoss.toFixed(4)} for one head on the concatenated features → ${kept ? 'stacked' : 'concatenated'}`);
        if (!kept) {
          await stacked.release();
          stacked = undefined;
        }
      }
    }
    const toHead = (params: Float64Array) => {
      const head = createHead({ kind: 'linear', inputDim: dim, nClasses, hidden: [], dropout: 0, standardisation }, seed);
      head.loadParameters([params.subarray(0, nClasses * dim), params.subarray(nClasses * dim)]);
      return head;
    };
    let valHead: DenseHead | undefined;
    let start = selection?.start;
    let onTrain: { x: Float64Array; iterations: number } | undefined;
    let blockStarts: Float64Array[] | undefined;
    if (val) {
      if (stacked) {
        const fit = await stacked.fit(trainRows);
        onTrain = { x: fit.params, iterations: fit.iterations };
        blockStarts = fit.blocks;
      } else {
        onTrain = await fitLogistic(problem, trainRows, weightDecay, start);
      }
      valHead = toHead(onTrain.x);
      start = onTrain.x;
    }
    // refit: false keeps the head that never saw the validation images (fine-tuning selects on them next).
    const refitOnAll = !onTrain || opts.refit !== false;
    let final: { x: Float64Array; iterations: number };
    if (!refitOnAll) final = onTrain!;
    else if (stacked) {
      const fit = await stacked.fit(allRows, blockStarts);
      if (fit.unconverged.length) log(`L-BFGS stopped short of its gradient tolerance: ${fit.unconverged.join('; ')}`);
      final = { x: fit.params, iterations: fit.iterations };
    }
    else {
      const fit = await fitLogistic(problem, allRows, weightDecay, start);
      if (!fit.converged) log(`L-BFGS stopped after ${fit.iterations} iterations (max |gradient| ${fit.gradMax.toExponential(1)})`);
      final = fit;
    }
    const fittedOn = refitOnAll ? all.n : sets.train.n;
    // A separate CV problem counts its own evaluations.
    const evaluations = problem.evaluations + (cvRuns ? selection!.evaluations : 0) + (stacked?.evaluations ?? 0);
    if (stacking?.kept) log(`linear heads: one per backbone (weight decays ${stacking.weightDecays.join(', ')} by ${selection!.folds}-fold CV each), stacked with weights ${stacking.weights.map((w) => w.toFixed(3)).join(', ')}, fitted on ${fittedOn} images${mirror ? ' and their mirror images' : ''}`);
    else log(`linear head: weight decay ${weightDecay}${selection ? ` (${selection.folds}-fold CV)` : ''}, fitted on ${fittedOn} images${mirror ? ' and their mirror images' : ''} (${evaluations} loss/gradient evaluations${selection ? `, ${selection.evaluations} of them for the CV` : ''} in ${problem.runs + cvRuns} onnxruntime runs)`);
    return {
      head: toHead(final.x),
      valHead,
      summary: { kind: 'linear', hidden: [], epochs: final.iterations, bestEpoch: final.iterations, optimizer: 'lbfgs', lr: undefined, schedule: 'none', seed },
      selected: {
        kind: 'linear', solver: 'lbfgs', weightDecay, stacking,
        cvFolds: selection?.folds, cvScores: selection?.scores,
        fittedOn, augment: mirror ? 'flip' : 'none', iterations: final.iterations, evaluations,
      },
      history: [],
      refit: val && refitOnAll ? { images: all.n } : undefined,
    };
  } finally {
    await problem.release();
    await stacked?.release();
  }
}

/** The standardised feature rows `rows` (in that order) of [n, dim] `x`, and their labels. */
function selectRows(x: Float32Array, y: ArrayLike<number>, rows: number[], dim: number): { x: Float32Array; y: Int32Array } {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((row, i) => out.set(x.subarray(row * dim, (row + 1) * dim), i * dim));
  return { x: out, y: Int32Array.from(rows, (row) => y[row]) };
}

/** Mini-batch heads (MLP, or --solver sgd): the original path, selection of epochs on the validation split. */
function trainIterative(ctx: HeadContext): TrainedHead {
  const { kind, sets, val, dim, nClasses, seed, opts, log } = ctx;
  const hidden = kind === 'mlp' ? opts.hidden ?? [256] : [];
  const standardisation = opts.standardize === false ? undefined : computeStandardisation(sets.train.x, sets.train.n, dim);
  const head = createHead({ kind, inputDim: dim, nClasses, hidden, dropout: kind === 'mlp' ? opts.dropout ?? 0.2 : 0, standardisation }, seed);
  const epochs = opts.epochs ?? TRAIN_DEFAULTS.epochs;
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
  let trained = fit.head as DenseHead;
  let refit: { epochs: number; images: number } | undefined;
  if (opts.refit && val) {
    // Model selection is done: train the same head again on train ∪ validation for the selected number of epochs.
    const all = concatSets(sets.train, val);
    const fresh = createHead({ ...head.config(), standardisation: opts.standardize === false ? undefined : computeStandardisation(all.x, all.n, dim) }, seed);
    const again = fitHead({ ...fitOptions, epochs: fit.bestEpoch, head: fresh, train: all });
    trained = again.head as DenseHead;
    refit = { epochs: fit.bestEpoch, images: all.n };
    log(`refit on train + validation (${all.n} images) for ${fit.bestEpoch} epochs`);
  }
  return {
    head: trained,
    valHead: fit.head as DenseHead,
    summary: { kind, hidden, epochs: fit.history.length, bestEpoch: fit.bestEpoch, optimizer: fitOptions.optimizer, lr: fitOptions.lr, schedule: fitOptions.schedule, seed },
    selected: { kind, solver: fitOptions.optimizer, weightDecay: fitOptions.weightDecay, epochs: fit.bestEpoch, selectedOn: val ? 'validation' : 'none' },
    history: fit.history,
    refit,
  };
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

/** Metrics of a head on a split; with `mirrored` features (TTA flip) the probabilities of both views are averaged. */
export function splitReport(head: DenseHead, data: FeatureSet, classes: string[], paths?: string[], mirrored?: FeatureSet): SplitMetrics {
  const logits = evaluateHead(head, data).logits;
  if (!mirrored) return splitMetrics({ scores: logits, kind: 'logits', labels: data.y, classes, paths });
  const probs = softmaxRows(logits, data.n);
  const other = softmaxRows(evaluateHead(head, mirrored).logits, mirrored.n);
  for (let j = 0; j < probs.length; j++) probs[j] = (probs[j] + other[j]) / 2;
  return splitMetrics({ scores: probs, kind: 'probabilities', labels: data.y, classes, paths });
}

export interface LrFindDatasetOptions extends LrFindOptions {
  model?: string;
  tap?: string;
  pooling?: Pooling;
  head?: HeadKind;
  hidden?: number[];
  dropout?: number;
  target?: Target;
  out?: string;
  progress?: ProgressSink;
}

/**
 * The learning-rate range test of a mini-batch head on a dataset's cached features (training split); writes the
 * loss-vs-lr plot to `out` when given.
 */
export async function lrFindDataset(datasetRoot: string, opts: LrFindDatasetOptions = {}): Promise<LrFindResult & { model: string; images: number; plot?: string }> {
  const seed = opts.seed ?? TRAIN_DEFAULTS.seed;
  const ds = await openDataset(datasetRoot, { val: 0, seed, target: opts.target });
  const models = await loadModels(opts.model, { seed, progress: opts.progress });
  const files = ds.samples.map((s) => s.path);
  const ex = await extractConcatenated(models, files, { tap: opts.tap, pooling: opts.pooling, progress: opts.progress });
  const train = gather(ex.x, ex.dim, ds, new Map(ex.rows.map((fileIndex, r) => [fileIndex, r])), 'train');
  const kind = opts.head ?? 'linear';
  const head = createHead({
    kind, inputDim: ex.dim, nClasses: ds.classes.length, hidden: kind === 'mlp' ? opts.hidden ?? [256] : [], dropout: kind === 'mlp' ? opts.dropout ?? 0.2 : 0,
    standardisation: computeStandardisation(train.x, train.n, ex.dim),
  }, seed);
  const result = lrFind(head, train, { ...opts, seed });
  if (opts.out) await plotLrFind(result.points, result.suggested, opts.out);
  return { ...result, model: models.map((m) => m.id).join(','), images: train.n, plot: opts.out };
}
