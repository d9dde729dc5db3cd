/**
 * The end-to-end training loop shared by fine-tuning and training from scratch: one gradient session
 * (forward + backward w.r.t. the trainable initializers, which are fed as inputs on every step), one forward
 * session for validation with the same parameter-as-input layout, per-group optimisers (discriminative
 * learning rates), a schedule, augmentation in the decode pipeline, and resumable checkpoints.
 *
 * Determinism: epoch e's shuffle and batch k's augmentation derive only from (seed, e, k), so a resumed run
 * sees exactly the batches an uninterrupted one would.
 */
import { tensorSize } from '../../onnx/types.js';
import { Session } from '../../runtime/session.js';
import { loadBatch } from '../../image/batch.js';
import { batchDims } from '../../image/layout.js';
import type { Augment } from '../../image/augment.js';
import { GraftError } from '../../util/errors.js';
import { progressOrSilent, type ProgressSink } from '../../util/progress.js';
import { Rng } from '../../util/rng.js';
import type { EpochRow } from '../../report/history.js';
import type { OptimizerKind } from '../../optim/optim.js';
import { BestModel, evaluate, scoreRows, type LabelledImage } from './evaluation.js';
import { liftToInputs, type TrainableNetwork } from './network.js';
import { emptyProgress, restoreRun, saveRun, type RunState } from './resume.js';
import { TrainingStep, fillBatch } from './step.js';

export { evaluate, type LabelledImage } from './evaluation.js';

export interface LoopOptions {
  train: LabelledImage[];
  val: LabelledImage[];
  nClasses: number;
  epochs: number;
  /** Base learning rate; each group uses lr × its lrMult (× the schedule's factor). */
  lr: number;
  optimizer: OptimizerKind;
  weightDecay?: number;
  momentum?: number;
  /** parseSchedule spec, evaluated per step. */
  schedule: string;
  labelSmoothing?: number;
  augment?: Augment;
  batchSize: number;
  seed: number;
  checkpointDir?: string;
  /** Continue from checkpointDir's checkpoint (it must exist and match `request`). */
  resume?: boolean;
  /**
   * The starting weights are validated too and kept (best epoch 0) unless an epoch beats them: fine-tuning starts
   * from a trained head, and on a small validation split a noisy run should not end worse than where it began.
   */
  startCompetes?: boolean;
  /** JSON identifying the run; stored in checkpoints and compared on resume (except its `extra` member). */
  request: Record<string, unknown>;
  /** When aborted, the in-flight step finishes, a checkpoint is written and the loop returns `interrupted`. */
  signal?: AbortSignal;
  onEpoch?: (row: EpochRow) => void;
  progress?: ProgressSink;
  log?: (line: string) => void;
}

export interface LoopResult {
  history: EpochRow[];
  /**
   * 1-based epoch whose weights are kept: highest val accuracy, ties broken by lower val loss (last epoch without
   * validation); 0 when `startCompetes` and no epoch beat the starting weights.
   */
  bestEpoch: number;
  /** Parameter (and running-statistic) values of the best epoch. */
  best: Map<string, Float32Array>;
  /** Validation logits [valRows.length, classes] of the best epoch. */
  bestValLogits?: Float32Array;
  /** Index into `val` of each validation row (unreadable images are absent). */
  valRows: number[];
  interrupted: boolean;
  timing: { setupSeconds: number; trainSeconds: number; steps: number; stepMs: number; imagesPerSecond: number };
}

/** What the epoch and checkpoint parts share within one run. */
interface Run {
  net: TrainableNetwork;
  opts: LoopOptions;
  step: TrainingStep;
  forward: Session;
  state: RunState;
  stepsPerEpoch: number;
  progress: ReturnType<typeof progressOrSilent>;
  log: (line: string) => void;
  /** Time spent in training steps, and how many. */
  timer: { ms: number; steps: number };
}

/** Trains `net` on the images; see the module comment. */
export async function trainLoop(net: TrainableNetwork, opts: LoopOptions): Promise<LoopResult> {
  const setupStarted = Date.now();
  const log = opts.log ?? (() => {});
  const B = opts.batchSize;
  if (!Number.isInteger(B) || B < 1) throw new GraftError('BAD_ARGUMENT', `batch size must be a positive integer, got ${B}`);
  if (!opts.train.length) throw new GraftError('DATASET', 'no training images');
  if (opts.resume && !opts.checkpointDir) throw new GraftError('BAD_ARGUMENT', 'resume needs a checkpoint folder');
  const stepsPerEpoch = Math.ceil(opts.train.length / B);
  const step = await TrainingStep.create(net, {
    batchSize: B, nClasses: opts.nClasses, inputDims: batchDims(B, net.preprocess), optimizer: opts.optimizer, momentum: opts.momentum,
    weightDecay: opts.weightDecay, lr: opts.lr, schedule: opts.schedule, totalSteps: stepsPerEpoch * opts.epochs,
  });
  const forward = await Session.create(liftToInputs(net.model, step.fedNames, ['logits']));
  let state: RunState;
  if (opts.resume) {
    state = restoreRun(opts.checkpointDir!, opts.request, step);
    log(`resuming from ${opts.checkpointDir}: ${state.epoch} epoch(s) done${state.step ? ` + ${state.step} step(s) of epoch ${state.epoch + 1}` : ''}`);
  } else {
    state = { history: [], epoch: 0, step: 0, partial: emptyProgress(), valRows: [], best: BestModel.initial(step.values) };
    if (opts.startCompetes && opts.val.length) {
      const ev = await evaluate(forward, net, opts.val, opts.nClasses, opts.batchSize, step.feeds(), opts.progress, 'validate the start');
      state.best.consider(0, step.values, ev);
      state.valRows = ev.rows;
      log(`start weights: val acc ${ev.accuracy.toFixed(4)}  val loss ${ev.loss.toFixed(4)} (kept unless an epoch beats them)`);
    }
  }
  const setupSeconds = (Date.now() - setupStarted) / 1000;
  log(`training graph ready in ${setupSeconds.toFixed(1)} s: ${step.params.length} parameter tensors (${step.params.reduce((a, n) => a + step.values.get(n)!.length, 0).toLocaleString()} values) in ${net.groups.length} group(s), ${stepsPerEpoch} steps/epoch`);
  const run: Run = { net, opts, step, forward, state, stepsPerEpoch, progress: progressOrSilent(opts.progress), log, timer: { ms: 0, steps: 0 } };
  const trainStarted = Date.now();
  let interrupted = false;
  try {
    for (let epoch = state.epoch; epoch < opts.epochs && !interrupted; epoch++) {
      const epochStarted = Date.now() - state.partial.seconds * 1000;
      if (!(await trainEpoch(run, epoch, epochStarted))) {
        interrupted = true;
        break;
      }
      await endEpoch(run, epoch, epochStarted);
      if (opts.signal?.aborted && epoch + 1 < opts.epochs) {
        log(`interrupted after epoch ${epoch + 1}; checkpoint written`);
        interrupted = true;
      }
    }
  } finally {
    await step.release();
    await forward.release();
  }
  const { timer } = run;
  if (opts.startCompetes && state.best.epoch === 0 && !interrupted && opts.val.length) log('no epoch beat the start weights on validation: they are kept');
  return {
    history: state.history, bestEpoch: state.best.epoch, best: state.best.values, bestValLogits: state.best.valLogits, valRows: state.valRows, interrupted,
    timing: {
      setupSeconds, trainSeconds: (Date.now() - trainStarted) / 1000, steps: timer.steps,
      stepMs: timer.steps ? timer.ms / timer.steps : 0, imagesPerSecond: timer.steps ? (timer.steps * B) / (timer.ms / 1000) : 0,
    },
  };
}

async function checkpoint(run: Run): Promise<void> {
  if (run.opts.checkpointDir) await saveRun(run.opts.checkpointDir, run.opts.request, run.net.groups.map((g) => g.name), run.step, run.state);
}

/**
 * The training steps of one epoch from `run.state.step` on, with the next batch decoding while a step runs.
 * Returns false when the signal aborted it (a checkpoint at the current step has then been written).
 */
async function trainEpoch(run: Run, epoch: number, epochStarted: number): Promise<boolean> {
  const { opts, net, state, stepsPerEpoch } = run;
  const B = opts.batchSize;
  const k = opts.nClasses;
  const order = new Rng(derivedSeed(opts.seed, epoch, 0)).shuffle(opts.train.map((_, i) => i));
  const load = (step: number) => {
    const rows = order.slice(step * B, (step + 1) * B);
    return loadBatch(rows.map((r) => opts.train[r].path), net.preprocess, { augment: opts.augment, seed: derivedSeed(opts.seed, epoch, step + 1) })
      .then((batch) => ({ batch, labels: rows.map((r) => opts.train[r].label) }));
  };
  const input = new Float32Array(tensorSize(batchDims(B, net.preprocess)));
  const target = new Float32Array(B * k);
  const task = run.progress.start(`epoch ${epoch + 1}/${opts.epochs}`, stepsPerEpoch, 'step');
  task.update(state.step);
  let next: ReturnType<typeof load> | undefined = load(state.step);
  for (let step = state.step; step < stepsPerEpoch; step++) {
    const { batch, labels } = await next!;
    next = step + 1 < stepsPerEpoch ? load(step + 1) : undefined;
    next?.catch(() => {});
    if (batch.indices.length === 0) continue;
    const okLabels = batch.indices.map((i) => labels[i]);
    fillBatch(input, target, batch.data, okLabels, B, k, opts.labelSmoothing ?? 0);
    const started = performance.now();
    const logits = await run.step.run(input, target, epoch * stepsPerEpoch + step, epoch);
    run.timer.ms += performance.now() - started;
    run.timer.steps++;
    const scored = scoreRows(logits, okLabels, k);
    state.partial.loss += scored.loss;
    state.partial.correct += scored.correct;
    state.partial.seen += batch.indices.length;
    task.update(step + 1, `loss ${(state.partial.loss / state.partial.seen).toFixed(4)}`);
    if (opts.signal?.aborted) {
      state.partial.seconds = (Date.now() - epochStarted) / 1000;
      Object.assign(state, { epoch, step: step + 1 });
      await checkpoint(run);
      task.finish('interrupted');
      run.log(`interrupted: checkpoint written after step ${step + 1} of epoch ${epoch + 1}`);
      return false;
    }
  }
  task.finish();
  return true;
}

/** Closes an epoch: its history row, validation, best-model tracking and the checkpoint. */
async function endEpoch(run: Run, epoch: number, epochStarted: number): Promise<void> {
  const { opts, state, step, stepsPerEpoch } = run;
  const totalSteps = stepsPerEpoch * opts.epochs;
  const { partial } = state;
  const row: EpochRow = {
    epoch: epoch + 1, trainLoss: partial.loss / Math.max(1, partial.seen), trainAcc: partial.correct / Math.max(1, partial.seen),
    lr: step.lr(Math.min(totalSteps, (epoch + 1) * stepsPerEpoch) - 1, epoch), seconds: 0,
  };
  if (opts.val.length) {
    const ev = await evaluate(run.forward, run.net, opts.val, opts.nClasses, opts.batchSize, step.feeds(), run.progress, `validate ${epoch + 1}/${opts.epochs}`);
    row.valLoss = ev.loss;
    row.valAcc = ev.accuracy;
    state.valRows = ev.rows;
    state.best.consider(epoch + 1, step.values, ev);
  } else {
    state.best.consider(epoch + 1, step.values);
  }
  row.seconds = (Date.now() - epochStarted) / 1000;
  state.history.push(row);
  Object.assign(state, { epoch: epoch + 1, step: 0, partial: emptyProgress() });
  await checkpoint(run);
  opts.onEpoch?.(row);
}

/** A 32-bit seed mixing integers (murmur3 finaliser per part). */
export function derivedSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}
