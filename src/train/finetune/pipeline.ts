/**
 * The whole `graft train --fine-tune` / from-scratch run: (head on frozen features, then unfreeze and train
 * end to end) or (all weights from random initialisation), checkpoints in OUT/checkpoint, then OUT/model.onnx
 * and the report files (report.json, report.html, plots). A run resumed from its checkpoint needs only the
 * checkpoint folder. Epochs are selected on validation; test, when the dataset has one, is only reported.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { readModel, writeModel } from '../../onnx/codec.js';
import { loadModel, type GraftModel } from '../../models/load.js';
import type { Model } from '../../onnx/types.js';
import { withValues } from './network.js';
import { REPORT_SCHEMA_VERSION, type RunReport, type Selected, type SplitMetrics } from '../../report/schema.js';
import { writeRunReport } from '../../report/write.js';
import { trainClassifier, type TrainOptions, type TrainReport } from '../frozen-backbone.js';
import { withPixelInput } from '../export.js';
import { DEFAULT_VAL_FRACTION } from '../../data/dataset.js';
import type { Pooling } from '../extract.js';
import { fineTune, headFromClassifier, resumeTraining, trainFromScratch, type EndToEndOptions, type EndToEndResult } from './finetune.js';
import type { Unfreeze } from './params.js';
import { assertDifferentiable } from '../../models/quantized.js';

export interface PipelineOptions extends Omit<EndToEndOptions, 'dataset' | 'checkpointDir' | 'resume' | 'extra'> {
  out: string;
  /** Fine-tune this pretrained model (after training its head), or … */
  model?: GraftModel;
  /** … train this architecture from scratch. */
  architecture?: string;
  inputSize?: number;
  tap?: string;
  pooling?: Pooling;
  unfreeze?: Unfreeze;
  backboneLrMult?: number;
  /** Options of the frozen-feature head stage (trainClassifier); its epochs are `--epochs-head`. */
  head?: Omit<TrainOptions, 'model' | 'out' | 'seed' | 'val' | 'target' | 'progress' | 'log' | 'signal'>;
  plots?: boolean;
  /** The argv that reproduces the run, recorded in the report (the CLI passes its own). */
  command?: string[];
}

/** report.json of a fine-tune / from-scratch run: the one schema of every mode (report/schema.ts). */
export type PipelineReport = RunReport;

/** What the frozen-head stage leaves in the checkpoint, so that a resumed run reports it too. */
interface FrozenStage {
  frozen: { val?: SplitMetrics; test?: SplitMetrics };
  selected: Selected;
  headSeconds: number;
  report: string;
  /** report.json of the baseline head (graft train's default head on the frozen backbone), when the dataset has a test split. */
  baseline?: string;
}

/** Runs (or, with `resume`, continues from that checkpoint folder) a fine-tuning or from-scratch training and writes its outputs to `out`. */
export async function trainEndToEnd(dataset: string | undefined, opts: PipelineOptions & { resume?: string }): Promise<PipelineReport> {
  const started = Date.now();
  const checkpoint = opts.resume ?? path.join(opts.out, 'checkpoint');
  const hooks = { signal: opts.signal, onEpoch: opts.onEpoch, progress: opts.progress, log: opts.log };
  let result: EndToEndResult;
  if (opts.resume) {
    result = await resumeTraining(opts.resume, hooks);
  } else if (opts.architecture) {
    const { head: _head, resume: _resume, command: _command, ...rest } = opts;
    result = await trainFromScratch({ ...rest, dataset: dataset!, architecture: opts.architecture, checkpointDir: checkpoint });
  } else {
    // Refuse a quantised backbone before spending minutes on its frozen head.
    if (opts.model && !(opts.unfreeze && 'blocks' in opts.unfreeze && opts.unfreeze.blocks === 0)) assertDifferentiable(opts.model.model.graph, opts.model.id);
    const headStarted = Date.now();
    const frozenOut = path.join(opts.out, 'frozen');
    // Fine-tuning selects its epochs on a held-out split, so the head it starts from uses the same split (trainClassifier's
    // own default holds nothing out) and is fitted on the same training images.
    const frozen = await headOnBackbone(dataset!, opts.model, { ...opts, val: opts.val ?? DEFAULT_VAL_FRACTION }, frozenOut, { refit: false });
    // The baseline on test: `graft train`'s own head on the frozen backbone (the call that re-fits the head on the fine-tuned one).
    const baseline = frozen.test ? await headOnBackbone(dataset!, opts.model, opts, path.join(opts.out, 'baseline')) : undefined;
    if (baseline?.test) opts.log?.(`frozen baseline (graft train's head on the frozen backbone): test accuracy ${(baseline.test.accuracy * 100).toFixed(2)}%`);
    const stage: FrozenStage = {
      frozen: { val: frozen.val, test: baseline?.test }, selected: frozen.selected,
      headSeconds: (Date.now() - headStarted) / 1000, report: frozen.files.report!, baseline: baseline?.files.report,
    };
    if (frozen.val) opts.log?.(`frozen head: val accuracy ${(frozen.val.accuracy * 100).toFixed(2)}% (${frozen.val.n} images) — now unfreezing`);
    const head = headFromClassifier(readModel(frozen.files.model!));
    const { head: _head, resume: _resume, command: _command, ...rest } = opts;
    result = await fineTune({ ...rest, dataset: dataset!, model: opts.model!, head, checkpointDir: checkpoint, extra: { frozenStage: stage, headOptions: opts.head ?? {} } });
  }
  const stage = result.request.extra.frozenStage as FrozenStage | undefined;
  let refit: TrainReport | undefined;
  if (!result.interrupted && result.request.mode === 'fine-tune' && stage?.baseline && result.test) {
    // Re-fit the linear head on the fine-tuned backbone's features exactly as the baseline was fitted on the frozen one.
    const started = Date.now();
    const r = result.request;
    const random = /^random:[^:]+:(\d+)$/.exec(r.model!.source);
    const base = opts.model ?? await loadModel(r.model!.id, random ? { randomWeights: true, seed: Number(random[1]) } : { progress: opts.progress });
    const same = { ...opts, head: (r.extra.headOptions ?? {}) as PipelineOptions['head'], tap: r.tap, pooling: r.pooling, val: r.val ?? undefined, seed: r.seed, target: r.target ?? undefined };
    refit = await headOnBackbone(r.dataset, fineTunedBackbone(base, result.model), same, path.join(opts.out, 'head'));
    opts.log?.(`head re-fitted on the fine-tuned features: test ${(refit.test!.accuracy * 100).toFixed(2)}% (end-to-end head ${(result.test!.accuracy * 100).toFixed(2)}%, frozen baseline ${(stage.frozen.test!.accuracy * 100).toFixed(2)}%) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const model = readModel(refit.files.model!);
    result.model = { ...model, metadata: { ...model.metadata, 'graft.fine_tuned': result.model.metadata['graft.fine_tuned'] } };
  }
  const report = endToEndReport(result, opts.command ?? null, checkpoint, refit);
  if (!result.interrupted) {
    await fs.promises.mkdir(opts.out, { recursive: true });
    report.files.model = path.join(opts.out, 'model.onnx');
    // Same input contract as the frozen-backbone export: RGB 0–255 pixels, the network's normalisation inside.
    await writeModel(withPixelInput(result.model), report.files.model);
    await writeRunReport(report, opts.out, { plots: opts.plots, startedAt: started });
  } else {
    report.timing.totalSeconds = (Date.now() - started) / 1000;
  }
  return report;
}

/**
 * `graft train`'s head (the run's head options) on `model`'s features, written to `out`. Used for the start head
 * (with a validation split, not refitted), and for the test baseline and the exported head (for a linear head: weight
 * decay by cross-validation, then fitted on every labelled non-test image and its mirror image): the same call on the
 * frozen and on the fine-tuned backbone keeps the test comparison apples to apples.
 */
function headOnBackbone(dataset: string, model: GraftModel | undefined, opts: PipelineOptions, out: string, extra: Pick<TrainOptions, 'refit'> = {}): Promise<TrainReport> {
  return trainClassifier(dataset, {
    ...opts.head, model, tap: opts.tap, pooling: opts.pooling, seed: opts.seed, val: opts.val, target: opts.target, ...extra,
    out, plots: false, progress: opts.progress, log: opts.log, command: opts.command, signal: opts.signal,
  });
}

/** `base` with the backbone weights of a fine-tuned classifier (same initializer names), hashed by those weights for the feature cache. */
export function fineTunedBackbone(base: GraftModel, fineTuned: Model): GraftModel {
  const values = new Map<string, Float32Array>();
  const hash = createHash('sha256').update(base.hash);
  for (const [name, t] of base.model.graph.initializers) {
    const tuned = fineTuned.graph.initializers.get(name)?.data;
    if (!(tuned instanceof Float32Array) || !(t.data instanceof Float32Array) || bytes(tuned).equals(bytes(t.data))) continue;
    values.set(name, tuned);
    hash.update(name).update(bytes(tuned));
  }
  return values.size ? { ...base, model: withValues(base.model, values), hash: hash.digest('hex') } : base;
}

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function endToEndReport(result: EndToEndResult, command: string[] | null, checkpoint: string, refit?: TrainReport): RunReport {
  const r = result.request;
  const stage = r.extra.frozenStage as FrozenStage | undefined;
  const common: Selected = {
    backbones: [],
    regularisation: { weightDecay: r.weightDecay, labelSmoothing: r.labelSmoothing, augment: r.augment },
    optimizer: { kind: r.optimizer, lr: r.lr, schedule: r.schedule, batchSize: r.batchSize },
    epochs: { run: result.history.length, best: result.bestEpoch },
    seed: r.seed,
  };
  const selected: Selected = r.mode === 'scratch'
    ? { ...common, architecture: r.architecture, inputSize: r.inputSize, trainedParameters: result.trained.parameters }
    : {
      ...common,
      backbones: [{ id: r.model!.id, tap: r.tap ?? 'features', pooling: r.pooling, featureDim: r.head?.inputDim }],
      head: (refit ?? stage)?.selected.head ?? (r.head ? { kind: r.head.kind, hidden: r.head.hidden } : undefined),
      fineTune: {
        blocks: result.trained.blocks, layers: result.trained.layers.length, parameters: result.trained.parameters,
        backboneLrMult: r.backboneLrMult!, unfreeze: r.unfreeze, headEpochs: stage?.selected.epochs?.run,
      },
      search: (refit ?? stage)?.selected.search,
    };
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    mode: r.mode,
    command,
    classes: result.classes,
    dataset: result.dataset,
    selected,
    val: result.val,
    test: refit?.test ?? result.test,
    ...(r.mode === 'fine-tune' ? { frozen: stage?.frozen ?? {} } : {}),
    history: result.history,
    skipped: result.skipped,
    timing: {
      totalSeconds: 0, headSeconds: stage?.headSeconds, setupSeconds: result.timing.setupSeconds, trainSeconds: result.timing.trainSeconds,
      stepMs: result.timing.stepMs, imagesPerSecond: result.timing.imagesPerSecond, evalSeconds: result.timing.evalSeconds,
    },
    files: { checkpoint, ...(stage ? { frozen: stage.report } : {}), ...(stage?.baseline ? { baseline: stage.baseline } : {}), ...(refit ? { head: refit.files.report } : {}) },
    interrupted: result.interrupted,
  };
}
