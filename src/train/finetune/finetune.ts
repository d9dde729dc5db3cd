/**
 * Fine-tuning (fastai's `fine_tune`, unfrozen part) and training from scratch, both on the end-to-end loop:
 * - fineTune: backbone-cut + pool + trained head as one graph; the head and the unfrozen backbone layers train,
 *   the backbone at lr × backboneLrMult; BatchNormalization keeps its inference form with frozen running
 *   statistics (γ/β train only in unfrozen layers).
 * - trainFromScratch: an architecture builder's graph with every parameter trained from its random
 *   initialisation; BatchNormalization trains on batch statistics (running averages, momentum 0.1).
 */
import { openDataset, type Target } from '../../data/dataset.js';
import { buildArchitecture } from '../../models/builders/index.js';
import { loadModel, type GraftModel } from '../../models/load.js';
import { PREPROCESS_TORCH, type Preprocess } from '../../image/preprocess.js';
import { DEFAULT_AUGMENT, type Augment } from '../../image/augment.js';
import { GraphBuilder } from '../../onnx/graph.js';
import type { Model } from '../../onnx/types.js';
import { attr } from '../../onnx/types.js';
import { GraftError } from '../../util/errors.js';
import { sha256 } from '../../util/fsutil.js';
import type { ProgressSink } from '../../util/progress.js';
import { classifierOnBackbone } from '../export.js';
import { backboneAt, type Pooling } from '../extract.js';
import type { EpochRow } from '../../report/history.js';
import { createHead, type DenseHead, type HeadKind } from '../heads.js';
import type { OptimizerKind } from '../../optim/optim.js';
import { Session } from '../../runtime/session.js';
import { splitMetrics } from '../../report/split.js';
import type { DatasetSummary, SplitMetrics } from '../../report/schema.js';
import { readCheckpoint } from './checkpoint.js';
import { evaluate, trainLoop, type LabelledImage, type LoopOptions, type LoopResult } from './loop.js';
import { withValues, type TrainableNetwork } from './network.js';
import { selectUnfrozen, type Selection, type Unfreeze } from './params.js';

/** Options shared by fine-tuning and training from scratch. */
export interface EndToEndOptions {
  /** Dataset root (any layout openDataset knows). */
  dataset: string;
  /** Validation fraction when the dataset has none. */
  val?: number;
  target?: Target;
  epochs?: number;
  lr?: number;
  optimizer?: OptimizerKind;
  weightDecay?: number;
  momentum?: number;
  schedule?: string;
  labelSmoothing?: number;
  /** Random augmentation while decoding training images; DEFAULT_AUGMENT unless false. */
  augment?: Augment | false;
  batchSize?: number;
  /** Seed of the validation split, the data order and the augmentation. */
  seed?: number;
  /** Checkpoints go here after every epoch and on abort. */
  checkpointDir?: string;
  /** Continue from checkpointDir. */
  resume?: boolean;
  signal?: AbortSignal;
  /** JSON kept in the checkpoint and returned by resumeTraining (e.g. the frozen-head report). */
  extra?: Record<string, unknown>;
  onEpoch?: (row: EpochRow) => void;
  progress?: ProgressSink;
  log?: (line: string) => void;
}

export interface FineTuneOptions extends EndToEndOptions {
  model: GraftModel;
  /** The head trained on frozen features (its values start the fine-tuning). */
  head: DenseHead;
  tap?: string;
  pooling?: Pooling;
  /** Default: FINE_TUNE_DEFAULTS.unfreeze (every backbone layer). */
  unfreeze?: Unfreeze;
  /** Backbone learning rate = lr × this (default FINE_TUNE_DEFAULTS.backboneLrMult). */
  backboneLrMult?: number;
  /**
   * The starting weights compete on validation as epoch 0 and are kept unless an epoch beats them (default true):
   * on a small validation split a fine-tuning run that ends worse than where it began is then not exported.
   */
  keepStart?: boolean;
}

export interface ScratchOptions extends EndToEndOptions {
  /** Builder name: scratch_cnn (alias scratch-cnn), resnet18, mobilenet_v2, … */
  architecture: string;
  /** Square input side; default the builder's (scratch_cnn 128, others 224). */
  inputSize?: number;
}

export interface EndToEndResult {
  /** The exported classifier: input → `probabilities` (and `logits`), best-epoch weights, graft metadata. */
  model: Model;
  classes: string[];
  history: EpochRow[];
  bestEpoch: number;
  /** The best epoch on the validation split (the split that chose it). */
  val?: SplitMetrics;
  /** The best epoch's model on the test split, when the dataset has one (never used for selection). */
  test?: SplitMetrics;
  dataset: DatasetSummary;
  /** Files left out, with reasons: unlisted by the dataset, or unreadable in validation/test. */
  skipped: { path: string; reason: string }[];
  trained: { layers: string[]; blocks: string[]; parameters: number };
  interrupted: boolean;
  timing: LoopResult['timing'] & { evalSeconds?: number };
  /** What the checkpoint stores to resume this run. */
  request: RunRequest;
}

/** Everything that defines a run (JSON): stored in its checkpoints, compared on resume, enough to restart it. */
export interface RunRequest {
  mode: 'fine-tune' | 'scratch';
  dataset: string;
  val: number | null;
  target: Target | null;
  epochs: number;
  lr: number;
  optimizer: OptimizerKind;
  weightDecay: number;
  momentum: number;
  schedule: string;
  labelSmoothing: number;
  augment: Augment | false;
  batchSize: number;
  seed: number;
  extra: Record<string, unknown>;
  /** scratch */
  architecture?: string;
  inputSize?: number;
  /** fine-tune */
  model?: { id: string; source: string; hash: string };
  tap?: string;
  pooling?: Pooling;
  head?: { kind: HeadKind; hidden: number[]; inputDim: number; nClasses: number };
  unfreeze?: Unfreeze;
  backboneLrMult?: number;
  keepStart?: boolean;
}

/**
 * Fine-tuning defaults, measured on the Oxford pets (README "Fine-tuning"): every backbone layer trains (the head at
 * lr, the backbone at lr × 0.1, Adam, one-cycle), 8 epochs with augmentation and label smoothing 0.1. Unfreezing only
 * the last block at lr 1e-4 for 3 epochs (the previous defaults) left the features where they were (test = frozen).
 */
export const FINE_TUNE_DEFAULTS = { epochs: 8, lr: 1e-3, backboneLrMult: 0.1, unfreeze: { all: true } as Unfreeze, labelSmoothing: 0.1, optimizer: 'adam' as OptimizerKind, schedule: 'onecycle:0.3', batchSize: 32, seed: 13 };
export const SCRATCH_DEFAULTS = { epochs: 10, lr: 2e-3, labelSmoothing: 0, optimizer: 'adam' as OptimizerKind, schedule: 'onecycle:0.3', batchSize: 32, seed: 13 };

/** Fine-tunes backbone-cut + head end to end; see the module comment. */
export async function fineTune(opts: FineTuneOptions): Promise<EndToEndResult> {
  const tap = opts.tap ?? 'features';
  const ds = await openSplits(opts);
  const backbone = backboneAt(opts.model, tap, opts.pooling);
  if (opts.head.inputDim !== backbone.dim || opts.head.nClasses !== ds.classes.length) {
    throw new GraftError('SHAPE', `fine-tune: the head maps ${opts.head.inputDim} → ${opts.head.nClasses}, the backbone tap ${tap} gives ${backbone.dim} features for ${ds.classes.length} classes`);
  }
  const unfreeze = opts.unfreeze ?? FINE_TUNE_DEFAULTS.unfreeze;
  const mult = opts.backboneLrMult ?? FINE_TUNE_DEFAULTS.backboneLrMult;
  const { net, selection, full } = fineTuneNetwork(opts.model, backbone, opts.head, { labels: ds.classes, tap, unfreeze, backboneLrMult: mult });
  const d = FINE_TUNE_DEFAULTS;
  const request: RunRequest = {
    ...commonRequest('fine-tune', opts, d), model: { id: opts.model.id, source: opts.model.source, hash: opts.model.hash }, tap, pooling: opts.pooling ?? 'avg',
    head: { kind: opts.head.kind, hidden: [...opts.head.hidden], inputDim: opts.head.inputDim, nClasses: opts.head.nClasses },
    // Recorded only when on, so that checkpoints written before the option existed still resume (without it).
    unfreeze, backboneLrMult: mult, ...(opts.keepStart !== false ? { keepStart: true } : {}),
  };
  opts.log?.(`fine-tuning ${selection.layers.length} backbone layer(s) in ${selection.blocks.length} block(s) [${selection.blocks.join(', ')}] + the head; backbone lr × ${mult}`);
  const result = await trainLoop(net, { ...loopOptions(opts, ds, request), startCompetes: request.keepStart === true });
  const trainedLayers = [...selection.layers, ...net.model.graph.nodes.filter((n) => n.name.startsWith('head.fc')).map((n) => n.name)];
  const fineTuned = JSON.stringify({ layers: selection.layers, blocks: selection.blocks, unfreeze, epochs: result.history.length, bestEpoch: result.bestEpoch, backboneLrMult: mult });
  const exported = withValues({ ...full, metadata: { ...full.metadata, 'graft.fine_tuned': fineTuned } }, result.best);
  return finishResult(exported, ds, result, request, { ...selection, layers: trainedLayers }, net, opts);
}

/**
 * Backbone-cut + pool + head as one trainable network: the head's parameters in group `head` (lr × 1), the unfrozen
 * backbone layers' in `backbone` (lr × backboneLrMult); BatchNormalization in its inference form (frozen statistics).
 */
export function fineTuneNetwork(
  model: GraftModel, backbone: ReturnType<typeof backboneAt>, head: DenseHead,
  o: { labels: string[]; tap: string; unfreeze: Unfreeze; backboneLrMult: number },
): { net: TrainableNetwork; selection: Selection; full: Model } {
  const full = classifierOnBackbone(backbone, head, { labels: o.labels, backbone: model, tap: o.tap });
  const isHead = (p: string) => p.startsWith('head.');
  const selection = selectUnfrozen(full.graph, o.unfreeze, isHead);
  const headParams = [...full.graph.initializers.keys()].filter(isHead);
  const net: TrainableNetwork = {
    model: full, inputName: model.inputName, preprocess: model.preprocess, batchNorm: 'frozen',
    groups: [{ name: 'head', params: headParams, lrMult: 1 }, ...(selection.params.length ? [{ name: 'backbone', params: selection.params, lrMult: o.backboneLrMult }] : [])],
  };
  return { net, selection, full };
}

/** Trains every weight of an architecture builder's network from its random initialisation. */
export async function trainFromScratch(opts: ScratchOptions): Promise<EndToEndResult> {
  const architecture = opts.architecture.replace(/-/g, '_');
  const ds = await openSplits(opts);
  const d = SCRATCH_DEFAULTS;
  const seed = opts.seed ?? d.seed;
  const built = buildArchitecture(architecture, { classes: ds.classes.length, seed, inputSize: opts.inputSize });
  const size = built.inputShape[2];
  const preprocess: Preprocess = { ...PREPROCESS_TORCH, size: [size, size], resizeTo: size === 224 ? PREPROCESS_TORCH.resizeTo : undefined };
  const selection = selectUnfrozen(built.model.graph, { all: true });
  const net: TrainableNetwork = { model: built.model, inputName: built.inputName, preprocess, batchNorm: 'batch', groups: [{ name: 'network', params: selection.params, lrMult: 1 }] };
  const request: RunRequest = { ...commonRequest('scratch', opts, d), architecture, inputSize: size };
  opts.log?.(`training ${architecture} from scratch at ${size} px: ${selection.layers.length} layers, all weights`);
  const result = await trainLoop(net, loopOptions(opts, ds, request));
  const trained = withValues(built.model, result.best);
  const g = { ...trained.graph, nodes: [...trained.graph.nodes], outputs: [...trained.graph.outputs] };
  new GraphBuilder(g).node('Softmax', ['logits'], { axis: attr.i(1) }, { name: 'softmax', outputs: ['probabilities'] });
  g.outputs = [{ name: 'probabilities', dtype: 'float32', shape: ['N', ds.classes.length] }, { name: 'logits', dtype: 'float32', shape: ['N', ds.classes.length] }];
  const model: Model = {
    ...trained, producerName: 'graft', graph: g,
    metadata: {
      ...trained.metadata,
      'graft.format': 'classifier/1',
      'graft.labels': JSON.stringify(ds.classes),
      'graft.preprocess': JSON.stringify(preprocess),
      'graft.output': 'probabilities',
      'graft.output_name': 'probabilities',
      'graft.backbone': JSON.stringify({ id: architecture, hash: sha256(`scratch:${architecture}:${seed}`), tap: 'features' }),
      'graft.taps': JSON.stringify({ features: built.featureTap, lastConv: built.lastConvTap }),
      'graft.trained': JSON.stringify({ mode: 'scratch', epochs: result.history.length, bestEpoch: result.bestEpoch }),
    },
  };
  return finishResult(model, ds, result, request, selection, net, opts);
}

/** Continues the run whose checkpoint is in `dir`, with the options it was started with. */
export async function resumeTraining(dir: string, hooks: Pick<EndToEndOptions, 'signal' | 'onEpoch' | 'progress' | 'log'> = {}): Promise<EndToEndResult> {
  const ck = readCheckpoint<{ request: RunRequest }>(dir);
  if (!ck) throw new GraftError('CHECKPOINT', `${dir}: no checkpoint (${dir}/checkpoint.bin) to resume from`);
  const r = ck.meta.request;
  const common: EndToEndOptions = {
    dataset: r.dataset, val: r.val ?? undefined, target: r.target ?? undefined, epochs: r.epochs, lr: r.lr, optimizer: r.optimizer,
    weightDecay: r.weightDecay, momentum: r.momentum, schedule: r.schedule, labelSmoothing: r.labelSmoothing, augment: r.augment,
    batchSize: r.batchSize, seed: r.seed, extra: r.extra, checkpointDir: dir, resume: true, ...hooks,
  };
  if (r.mode === 'scratch') return trainFromScratch({ ...common, architecture: r.architecture!, inputSize: r.inputSize });
  if (r.mode !== 'fine-tune' || !r.model || !r.head) throw new GraftError('CHECKPOINT', `${dir}: unknown training mode ${JSON.stringify(r.mode)}`);
  const m = r.model;
  const random = /^random:[^:]+:(\d+)$/.exec(m.source);
  const model = await loadModel(m.id, random ? { randomWeights: true, seed: Number(random[1]) } : { progress: hooks.progress });
  if (model.hash !== m.hash) throw new GraftError('CHECKPOINT', `${dir}: the checkpoint was trained from ${m.id} with hash ${m.hash.slice(0, 12)}, the model found now has ${model.hash.slice(0, 12)}`);
  // The head's values come from the checkpoint; this only gives its structure.
  const head = createHead({ ...r.head, dropout: 0 });
  return fineTune({ ...common, model, head, tap: r.tap, pooling: r.pooling, unfreeze: r.unfreeze, backboneLrMult: r.backboneLrMult, keepStart: r.keepStart === true });
}

function commonRequest(mode: RunRequest['mode'], opts: EndToEndOptions, d: typeof SCRATCH_DEFAULTS | typeof FINE_TUNE_DEFAULTS): RunRequest {
  return {
    mode, dataset: opts.dataset, val: opts.val ?? null, target: opts.target ?? null,
    epochs: opts.epochs ?? d.epochs, lr: opts.lr ?? d.lr, optimizer: opts.optimizer ?? d.optimizer,
    weightDecay: opts.weightDecay ?? 0, momentum: opts.momentum ?? 0, schedule: opts.schedule ?? d.schedule,
    labelSmoothing: opts.labelSmoothing ?? d.labelSmoothing, augment: opts.augment === false ? false : opts.augment ?? DEFAULT_AUGMENT,
    batchSize: opts.batchSize ?? d.batchSize, seed: opts.seed ?? d.seed, extra: opts.extra ?? {},
  };
}

interface Splits {
  classes: string[];
  train: LabelledImage[];
  val: LabelledImage[];
  test: LabelledImage[];
  summary: DatasetSummary;
  skipped: { path: string; reason: string }[];
}

async function openSplits(opts: EndToEndOptions): Promise<Splits> {
  const ds = await openDataset(opts.dataset, { val: opts.val, seed: opts.seed ?? FINE_TUNE_DEFAULTS.seed, target: opts.target });
  const pick = (split: string) => ds.samples.filter((s) => s.split === split).map((s) => ({ path: s.path, label: s.label }));
  const [train, val, test] = [pick('train'), pick('validation'), pick('test')];
  return {
    classes: ds.classes, train, val, test, skipped: [...ds.skipped],
    summary: { root: ds.root, layout: ds.layout, counts: { train: train.length, validation: val.length, test: test.length }, notes: ds.notes },
  };
}

function loopOptions(opts: EndToEndOptions, ds: Splits, request: RunRequest): LoopOptions {
  return {
    train: ds.train, val: ds.val, nClasses: ds.classes.length,
    epochs: request.epochs, lr: request.lr, optimizer: request.optimizer, weightDecay: request.weightDecay, momentum: request.momentum,
    schedule: request.schedule, labelSmoothing: request.labelSmoothing, augment: request.augment === false ? undefined : request.augment,
    batchSize: request.batchSize, seed: request.seed, checkpointDir: opts.checkpointDir, resume: opts.resume,
    request: request as unknown as Record<string, unknown>, signal: opts.signal, onEpoch: opts.onEpoch, progress: opts.progress, log: opts.log,
  };
}

async function finishResult(
  model: Model, ds: Splits, result: LoopResult, request: RunRequest, selection: Selection, net: TrainableNetwork, opts: EndToEndOptions,
): Promise<EndToEndResult> {
  const count = net.groups.flatMap((g) => g.params).reduce((a, p) => a + net.model.graph.initializers.get(p)!.data.length, 0);
  const scored = (images: LabelledImage[], rows: number[], logits: Float32Array): SplitMetrics =>
    splitMetrics({ scores: logits, kind: 'logits', labels: rows.map((i) => images[i].label), classes: ds.classes, paths: rows.map((i) => images[i].path) });
  const skipped = [...ds.skipped];
  const scoredVal = new Set(result.valRows);
  if (result.bestValLogits) for (const [i, img] of ds.val.entries()) if (!scoredVal.has(i)) skipped.push({ path: img.path, reason: 'unreadable: left out of validation' });
  // The test split is scored once, with the best epoch's exported model, after selection is over.
  let test: SplitMetrics | undefined;
  let evalSeconds: number | undefined;
  if (ds.test.length && !result.interrupted) {
    const started = Date.now();
    const session = await Session.create(model);
    try {
      const ev = await evaluate(session, net, ds.test, ds.classes.length, request.batchSize, {}, opts.progress, 'test');
      test = scored(ds.test, ev.rows, ev.logits);
      skipped.push(...ev.failures.map((f) => ({ path: f.path, reason: f.reason })));
    } finally {
      await session.release();
    }
    evalSeconds = (Date.now() - started) / 1000;
  }
  return {
    model, classes: ds.classes, history: result.history, bestEpoch: result.bestEpoch,
    val: result.bestValLogits ? scored(ds.val, result.valRows, result.bestValLogits) : undefined,
    test, dataset: ds.summary, skipped,
    trained: { layers: selection.layers, blocks: selection.blocks, parameters: count },
    interrupted: result.interrupted, timing: { ...result.timing, evalSeconds }, request,
  };
}

/** The dense head inside an exported classifier (`head.fc{l}.weight/bias` Gemm initializers, standardisation already folded). */
export function headFromClassifier(model: Model): DenseHead {
  const meta = JSON.parse(model.metadata['graft.head'] ?? 'null') as { kind: HeadKind; hidden: number[] } | null;
  const w0 = model.graph.initializers.get('head.fc0.weight');
  const labels = JSON.parse(model.metadata['graft.labels'] ?? '[]') as string[];
  if (!meta || !w0) throw new GraftError('MODEL_FORMAT', `${model.graph.name}: not a graft classifier with a dense head (no graft.head metadata or head.fc0.weight)`);
  const head = createHead({ kind: meta.kind, hidden: meta.hidden, inputDim: w0.dims[1], nClasses: labels.length, dropout: 0 });
  head.loadParameters(head.parameters().map((p) => {
    const t = model.graph.initializers.get(`head.${p.name}`);
    if (!t) throw new GraftError('MODEL_FORMAT', `${model.graph.name}: head parameter head.${p.name} is missing`);
    return t.data as Float32Array;
  }));
  return head;
}
