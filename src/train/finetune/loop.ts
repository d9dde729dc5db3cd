/**
 * The end-to-end training loop shared by fine-tuning and training from scratch: one gradient session
 * (forward + backward w.r.t. the trainable initializers, which are fed as inputs on every step), one forward
 * session for validation with the same parameter-as-input layout, per-group optimisers (discriminative
 * learning rates), a schedule, augmentation in the decode pipeline, and resumable checkpoints.
 *
 * Determinism: epoch e's shuffle and batch k's augmentation derive only from (seed, e, k), so a resumed run
 * sees exactly the batches an uninterrupted one would.
 */
import { GradientRunner, objectives } from '../../autodiff/index.js';
import { inferShapes } from '../../onnx/shapes.js';
import { tensorSize } from '../../onnx/types.js';
import { Session, asFloat32, float32, type OrtTensor } from '../../runtime/session.js';
import { batches, loadBatch, type ImageFailure } from '../../image/batch.js';
import { batchDims } from '../../image/layout.js';
import type { Augment } from '../../image/augment.js';
import { GraftError } from '../../util/errors.js';
import { progressOrSilent, type ProgressSink } from '../../util/progress.js';
import { Rng } from '../../util/rng.js';
import type { EpochRow } from '../../report/history.js';
import { createOptimizer, type OptimizerKind, type OptimizerState } from '../../optim/optim.js';
import { parseSchedule } from '../../optim/schedule.js';
import { argmax, logSumExp } from '../../math/rows.js';
import { readCheckpoint, writeCheckpoint, type CheckpointArray } from './checkpoint.js';
import { BN_MOMENTUM, batchStatisticsForm, liftToInputs, type BatchNormState, type TrainableNetwork } from './network.js';

export interface LabelledImage {
  path: string;
  label: number;
}

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
  /** 1-based epoch whose weights are kept: highest val accuracy, ties broken by lower val loss (last epoch without validation). */
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

interface LoopMeta {
  format: 'graft-training';
  version: 1;
  request: Record<string, unknown>;
  /** Completed epochs. */
  epoch: number;
  /** Steps already taken in epoch `epoch` (non-zero only for a checkpoint written on a signal). */
  step: number;
  partial: Partial;
  history: EpochRow[];
  bestEpoch: number;
  bestScore: Score;
  optimizers: { group: string; kind: OptimizerKind; step: number; buffers: Record<string, number> }[];
  tensors: string[];
  valRows: number[];
}

interface Partial {
  loss: number;
  correct: number;
  seen: number;
  seconds: number;
}

interface Score {
  acc: number;
  loss: number;
}

/** Worse than any evaluation (and JSON-safe, unlike ±Infinity). */
const NO_SCORE: Score = { acc: -1, loss: Number.MAX_VALUE };

/** Trains `net` on the images; see the module comment. */
export async function trainLoop(net: TrainableNetwork, opts: LoopOptions): Promise<LoopResult> {
  const setupStarted = Date.now();
  const log = opts.log ?? (() => {});
  const k = opts.nClasses;
  const B = opts.batchSize;
  if (!Number.isInteger(B) || B < 1) throw new GraftError('BAD_ARGUMENT', `batch size must be a positive integer, got ${B}`);
  if (!opts.train.length) throw new GraftError('DATASET', 'no training images');
  const params = net.groups.flatMap((g) => g.params);
  const trainable = new Set(params);
  const inputDims = batchDims(B, net.preprocess);

  const { model: trainModel, states } = net.batchNorm === 'batch' ? batchStatisticsForm(net.model, trainable) : { model: net.model, states: [] as BatchNormState[] };
  const shapes = inferShapes(trainModel.graph, { [net.inputName]: inputDims });
  const perChannelCount = new Map(states.map((s) => {
    const dims = shapes.get(s.input)?.shape as number[];
    return [s.layer, tensorSize(dims) / dims[1]];
  }));
  const runner = await GradientRunner.create(trainModel, (b) => objectives.crossEntropy(b, 'logits', 'target_onehot'), {
    wrt: params,
    inputShapes: { [net.inputName]: inputDims, target_onehot: [B, k] },
    keepOutputs: ['logits', ...states.flatMap((s) => [s.batchMean, s.batchVar])],
  });
  const stateNames = states.flatMap((s) => [s.runningMean, s.runningVar]);
  const fedNames = [...params, ...stateNames];
  const forward = await Session.create(liftToInputs(net.model, fedNames, ['logits']));
  const values = new Map(fedNames.map((name) => [name, Float32Array.from(net.model.graph.initializers.get(name)!.data as Float32Array)]));
  const dimsOf = new Map(fedNames.map((name) => [name, net.model.graph.initializers.get(name)!.dims]));
  const feedsOf = (names: string[]) => Object.fromEntries(names.map((n) => [n, float32(values.get(n)!, dimsOf.get(n)!)]));
  const optimizers = net.groups.map(() => createOptimizer(opts.optimizer, { momentum: opts.momentum, weightDecay: opts.weightDecay }));
  const schedule = parseSchedule(opts.schedule);
  const stepsPerEpoch = Math.ceil(opts.train.length / B);
  const totalSteps = stepsPerEpoch * opts.epochs;

  let history: EpochRow[] = [];
  let bestEpoch = 0;
  let bestScore: Score = NO_SCORE;
  let best = new Map([...values].map(([n, v]) => [n, Float32Array.from(v)]));
  let bestValLogits: Float32Array | undefined;
  let valRows: number[] = [];
  let startEpoch = 0;
  let startStep = 0;
  let partial: Partial = { loss: 0, correct: 0, seen: 0, seconds: 0 };

  if (opts.resume) {
    if (!opts.checkpointDir) throw new GraftError('BAD_ARGUMENT', 'resume needs a checkpoint folder');
    const ck = readCheckpoint<LoopMeta>(opts.checkpointDir);
    if (!ck) throw new GraftError('CHECKPOINT', `${opts.checkpointDir}: no checkpoint to resume from`);
    checkSameRequest(ck.meta.request, opts.request, opts.checkpointDir);
    for (const name of fedNames) {
      const v = ck.tensors.get(`value:${name}`);
      const bv = ck.tensors.get(`best:${name}`);
      if (!(v instanceof Float32Array) || !(bv instanceof Float32Array) || v.length !== values.get(name)!.length) {
        throw new GraftError('CHECKPOINT', `${opts.checkpointDir}: parameter ${name} is missing or has the wrong size`);
      }
      values.set(name, Float32Array.from(v));
      best.set(name, Float32Array.from(bv));
    }
    ck.meta.optimizers.forEach((o, i) => optimizers[i].loadState(optimizerStateFrom(o, ck.tensors)));
    ({ history, bestEpoch, bestScore, valRows } = ck.meta);
    bestValLogits = ck.tensors.get('bestValLogits') as Float32Array | undefined;
    startEpoch = ck.meta.epoch;
    startStep = ck.meta.step;
    partial = ck.meta.partial;
    log(`resuming from ${opts.checkpointDir}: ${startEpoch} epoch(s) done${startStep ? ` + ${startStep} step(s) of epoch ${startEpoch + 1}` : ''}`);
  }

  const save = async (epoch: number, step: number) => {
    if (!opts.checkpointDir) return;
    const tensors = new Map<string, CheckpointArray>();
    for (const [n, v] of values) tensors.set(`value:${n}`, v);
    for (const [n, v] of best) tensors.set(`best:${n}`, v);
    if (bestValLogits) tensors.set('bestValLogits', bestValLogits);
    const optimizerMeta = optimizers.map((o, i) => optimizerMetaOf(net.groups[i].name, o.state(), tensors));
    const meta: LoopMeta = {
      format: 'graft-training', version: 1, request: opts.request, epoch, step, partial, history, bestEpoch,
      bestScore: Number.isFinite(bestScore.acc) ? bestScore : NO_SCORE, optimizers: optimizerMeta, tensors: fedNames, valRows,
    };
    await writeCheckpoint(opts.checkpointDir, meta, tensors);
  };

  const setupSeconds = (Date.now() - setupStarted) / 1000;
  log(`training graph ready in ${setupSeconds.toFixed(1)} s: ${params.length} parameter tensors (${params.reduce((a, n) => a + values.get(n)!.length, 0).toLocaleString()} values) in ${net.groups.length} group(s), ${stepsPerEpoch} steps/epoch`);
  const progress = progressOrSilent(opts.progress);
  let stepTime = 0;
  let steps = 0;
  const trainStarted = Date.now();
  const input = new Float32Array(tensorSize(inputDims));
  const target = new Float32Array(B * k);
  const smoothing = opts.labelSmoothing ?? 0;

  for (let epoch = startEpoch; epoch < opts.epochs; epoch++) {
    const epochStarted = Date.now() - partial.seconds * 1000;
    const order = new Rng(derivedSeed(opts.seed, epoch, 0)).shuffle(opts.train.map((_, i) => i));
    const load = (step: number) => {
      const rows = order.slice(step * B, (step + 1) * B);
      return loadBatch(rows.map((r) => opts.train[r].path), net.preprocess, { augment: opts.augment, seed: derivedSeed(opts.seed, epoch, step + 1) })
        .then((batch) => ({ batch, labels: rows.map((r) => opts.train[r].label) }));
    };
    const task = progress.start(`epoch ${epoch + 1}/${opts.epochs}`, stepsPerEpoch, 'step');
    task.update(startStep);
    let next: ReturnType<typeof load> | undefined = load(startStep);
    for (let step = startStep; step < stepsPerEpoch; step++) {
      const { batch, labels } = await next!;
      next = step + 1 < stepsPerEpoch ? load(step + 1) : undefined;
      next?.catch(() => {});
      const real = batch.indices.length;
      if (real === 0) continue;
      // A short batch (last one, or unreadable images) is filled up by repeating its own images: every row is a real sample.
      const rowSize = input.length / B;
      target.fill(0);
      for (let r = 0; r < B; r++) {
        const src = r % real;
        input.set(batch.data.subarray(src * rowSize, (src + 1) * rowSize), r * rowSize);
        const label = labels[batch.indices[src]];
        for (let c = 0; c < k; c++) target[r * k + c] = smoothing / k;
        target[r * k + label] += 1 - smoothing;
      }
      const started = performance.now();
      const res = await runner.run({ [net.inputName]: float32(input, inputDims), target_onehot: float32(target, [B, k]), ...feedsOf(params) });
      const globalStep = epoch * stepsPerEpoch + step;
      const factor = schedule(globalStep, totalSteps, epoch);
      net.groups.forEach((g, i) => {
        optimizers[i].step(g.params.map((p) => values.get(p)!), g.params.map((p) => res.grads[p]), opts.lr * g.lrMult * factor);
      });
      for (const s of states) updateRunningStats(values, s, res.outputs, perChannelCount.get(s.layer)!);
      stepTime += performance.now() - started;
      steps++;
      const scored = scoreRows(res.outputs.logits, batch.indices.map((i) => labels[i]), k);
      partial.loss += scored.loss;
      partial.correct += scored.correct;
      partial.seen += real;
      task.update(step + 1, `loss ${(partial.loss / partial.seen).toFixed(4)}`);
      if (opts.signal?.aborted) {
        partial.seconds = (Date.now() - epochStarted) / 1000;
        await save(epoch, step + 1);
        task.finish('interrupted');
        log(`interrupted: checkpoint written after step ${step + 1} of epoch ${epoch + 1}`);
        return finish(true);
      }
    }
    task.finish();
    const lastLr = opts.lr * schedule(Math.min(totalSteps, (epoch + 1) * stepsPerEpoch) - 1, totalSteps, epoch);
    const row: EpochRow = { epoch: epoch + 1, trainLoss: partial.loss / Math.max(1, partial.seen), trainAcc: partial.correct / Math.max(1, partial.seen), lr: lastLr, seconds: 0 };
    if (opts.val.length) {
      const ev = await evaluate(forward, net, opts.val, k, B, { ...feedsOf(fedNames) }, progress, `validate ${epoch + 1}/${opts.epochs}`);
      row.valLoss = ev.loss;
      row.valAcc = ev.accuracy;
      valRows = ev.rows;
      if (ev.accuracy > bestScore.acc || (ev.accuracy === bestScore.acc && ev.loss < bestScore.loss)) {
        bestScore = { acc: ev.accuracy, loss: ev.loss };
        bestEpoch = epoch + 1;
        best = new Map([...values].map(([n, v]) => [n, Float32Array.from(v)]));
        bestValLogits = ev.logits;
      }
    } else {
      bestEpoch = epoch + 1;
      best = new Map([...values].map(([n, v]) => [n, Float32Array.from(v)]));
    }
    row.seconds = (Date.now() - epochStarted) / 1000;
    history.push(row);
    partial = { loss: 0, correct: 0, seen: 0, seconds: 0 };
    startStep = 0;
    await save(epoch + 1, 0);
    opts.onEpoch?.(row);
    if (opts.signal?.aborted && epoch + 1 < opts.epochs) {
      log(`interrupted after epoch ${epoch + 1}; checkpoint written`);
      return finish(true);
    }
  }
  return finish(false);

  async function finish(interrupted: boolean): Promise<LoopResult> {
    await runner.release();
    await forward.release();
    const trainSeconds = (Date.now() - trainStarted) / 1000;
    return {
      history, bestEpoch, best, bestValLogits, valRows, interrupted,
      timing: { setupSeconds, trainSeconds, steps, stepMs: steps ? stepTime / steps : 0, imagesPerSecond: steps ? (steps * B) / (stepTime / 1000) : 0 },
    };
  }
}

/** Evaluation-mode pass over images: mean cross-entropy, accuracy, logits. */
export async function evaluate(
  session: Session, net: Pick<TrainableNetwork, 'preprocess' | 'inputName'>, images: LabelledImage[], k: number, batchSize: number,
  feeds: Record<string, OrtTensor>, progress?: ProgressSink, label = 'evaluate',
): Promise<{ loss: number; accuracy: number; logits: Float32Array; rows: number[]; failures: ImageFailure[] }> {
  const task = progressOrSilent(progress).start(label, images.length, 'img');
  const logits = new Float32Array(images.length * k);
  const rows: number[] = [];
  const failures: ImageFailure[] = [];
  let loss = 0;
  let correct = 0;
  for await (const batch of batches(images.map((i) => i.path), net.preprocess, { batchSize, concurrency: 2 })) {
    failures.push(...batch.failures);
    if (!batch.indices.length) continue;
    const out = await session.run({ ...feeds, [net.inputName]: float32(batch.data, batch.dims) }, ['logits']);
    const l = asFloat32(out.logits);
    logits.set(l, rows.length * k);
    const s = scoreRows(l, batch.indices.map((i) => images[i].label), k);
    loss += s.loss;
    correct += s.correct;
    rows.push(...batch.indices);
    task.increment(batch.indices.length + batch.failures.length);
  }
  task.finish();
  const n = Math.max(1, rows.length);
  return { loss: loss / n, accuracy: correct / n, logits: logits.slice(0, rows.length * k), rows, failures };
}

/** Σ cross-entropy and number of correct argmax predictions over the first labels.length rows. */
function scoreRows(logits: Float32Array, labels: number[], k: number): { loss: number; correct: number } {
  let loss = 0;
  let correct = 0;
  labels.forEach((label, r) => {
    loss += logSumExp(logits, r * k, (r + 1) * k) - logits[r * k + label];
    if (argmax(logits, r * k, (r + 1) * k) === label) correct++;
  });
  return { loss, correct };
}

/** torch BatchNorm running averages: r ← (1 − m)·r + m·batch, with the unbiased batch variance. */
function updateRunningStats(values: Map<string, Float32Array>, s: BatchNormState, outputs: Record<string, Float32Array>, count: number): void {
  const mean = values.get(s.runningMean)!;
  const variance = values.get(s.runningVar)!;
  const bm = outputs[s.batchMean];
  const bv = outputs[s.batchVar];
  const unbias = count > 1 ? count / (count - 1) : 1;
  for (let c = 0; c < mean.length; c++) {
    mean[c] = (1 - BN_MOMENTUM) * mean[c] + BN_MOMENTUM * bm[c];
    variance[c] = (1 - BN_MOMENTUM) * variance[c] + BN_MOMENTUM * bv[c] * unbias;
  }
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

function optimizerMetaOf(group: string, state: OptimizerState, tensors: Map<string, CheckpointArray>): LoopMeta['optimizers'][number] {
  const buffers: Record<string, number> = {};
  for (const [key, list] of Object.entries(state.buffers)) {
    buffers[key] = list.length;
    list.forEach((b, i) => tensors.set(`opt:${group}:${key}:${i}`, Float64Array.from(b)));
  }
  return { group, kind: state.kind, step: state.step, buffers };
}

function optimizerStateFrom(meta: LoopMeta['optimizers'][number], tensors: Map<string, CheckpointArray>): OptimizerState {
  const buffers: Record<string, number[][]> = {};
  for (const [key, count] of Object.entries(meta.buffers)) {
    buffers[key] = Array.from({ length: count }, (_, i) => Array.from(tensors.get(`opt:${meta.group}:${key}:${i}`) ?? []));
  }
  return { kind: meta.kind, step: meta.step, buffers };
}

function checkSameRequest(stored: Record<string, unknown>, given: Record<string, unknown>, where: string): void {
  for (const key of new Set([...Object.keys(stored), ...Object.keys(given)])) {
    if (key === 'extra') continue;
    if (JSON.stringify(stored[key]) !== JSON.stringify(given[key])) {
      throw new GraftError('CHECKPOINT', `${where}: the checkpoint was written with ${key} = ${JSON.stringify(stored[key])}, this run has ${JSON.stringify(given[key])}`);
    }
  }
}
