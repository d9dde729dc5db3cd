import { GraftError } from '../util/errors.js';
import { progressOrSilent, type ProgressSink } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import type { Head } from './heads.js';
import { balancedClassWeights, checkLabels, softmaxCrossEntropy, type CrossEntropyOptions } from './loss.js';
import { argmaxRows } from '../math/rows.js';
import type { EpochRow } from '../report/history.js';
import { clipGradNorm, createOptimizer, type OptimizerKind } from '../optim/optim.js';
import { constantSchedule, parseSchedule, type LrSchedule } from '../optim/schedule.js';

/** Row-major features [n, dim] with integer labels. */
export interface FeatureSet {
  x: Float32Array;
  y: ArrayLike<number>;
  n: number;
  dim: number;
}

// One row of the training history is part of the report schema (report/), which plots and report.html read.
export type { EpochRow };

export interface FitOptions {
  head: Head;
  train: FeatureSet;
  val?: FeatureSet;
  epochs: number;
  batchSize: number;
  optimizer: OptimizerKind;
  /** Base (for one-cycle: maximum) learning rate. */
  lr: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  /** An LrSchedule or its parseSchedule spec; constant by default. */
  schedule?: LrSchedule | string;
  labelSmoothing?: number;
  /** Per-class loss weights, or 'balanced' to derive them from the training labels. */
  classWeights?: ArrayLike<number> | 'balanced';
  /** Clip the global gradient L2 norm to this value before every step. */
  clipNorm?: number;
  /** Stop when val loss has not improved by more than minDelta for `patience` epochs; the best epoch's weights are restored. */
  earlyStopping?: { patience: number; minDelta?: number };
  seed: number;
  onEpoch?: (row: EpochRow) => void;
  progress?: ProgressSink;
}

export interface FitResult {
  history: EpochRow[];
  /** 1-based epoch with the lowest val loss (the last epoch when there is no validation set). */
  bestEpoch: number;
  head: Head;
  stoppedEarly: boolean;
}

export interface Evaluation {
  loss: number;
  accuracy: number;
  /** Evaluation-mode logits [n, nClasses]. */
  logits: Float32Array;
}

/** Evaluation-mode loss, accuracy and logits of a head on a dataset (forward in chunks of `batchSize` rows). */
export function evaluateHead(head: Head, data: FeatureSet, lossOptions: CrossEntropyOptions = {}, batchSize = 1024): Evaluation {
  checkDataset(head, data, 'evaluation data');
  const k = head.nClasses;
  const logits = new Float32Array(data.n * k);
  for (let start = 0; start < data.n; start += batchSize) {
    const end = Math.min(data.n, start + batchSize);
    logits.set(head.forward(data.x.subarray(start * data.dim, end * data.dim), end - start), start * k);
  }
  const { loss } = softmaxCrossEntropy(logits, data.y, k, lossOptions);
  const predicted = argmaxRows(logits, k);
  let hits = 0;
  for (let i = 0; i < data.n; i++) if (predicted[i] === data.y[i]) hits++;
  return { loss, accuracy: hits / data.n, logits };
}

/** Trains a head on cached features with seeded mini-batch shuffling; same options and seed ⇒ same history and weights. */
export function fitHead(options: FitOptions): FitResult {
  const { head, train, val, epochs, batchSize, lr, seed } = options;
  checkDataset(head, train, 'training data');
  if (val) checkDataset(head, val, 'validation data');
  if (!Number.isInteger(epochs) || epochs < 1) throw new GraftError('BAD_ARGUMENT', `fitHead: epochs = ${epochs} must be a positive integer`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new GraftError('BAD_ARGUMENT', `fitHead: batchSize = ${batchSize} must be a positive integer`);
  if (!(lr > 0)) throw new GraftError('BAD_ARGUMENT', `fitHead: learning rate ${lr} must be > 0`);
  if (options.earlyStopping && !val) throw new GraftError('BAD_ARGUMENT', 'fitHead: early stopping needs a validation set');
  if (options.clipNorm !== undefined && !(options.clipNorm > 0)) throw new GraftError('BAD_ARGUMENT', `fitHead: clipNorm ${options.clipNorm} must be > 0`);

  const k = head.nClasses;
  const dim = train.dim;
  const lossOptions: CrossEntropyOptions = {
    labelSmoothing: options.labelSmoothing,
    classWeights: options.classWeights === 'balanced' ? balancedClassWeights(train.y, k) : options.classWeights,
  };
  const schedule = typeof options.schedule === 'string' ? parseSchedule(options.schedule) : (options.schedule ?? constantSchedule());
  const optimizer = createOptimizer(options.optimizer, {
    momentum: options.momentum,
    nesterov: options.nesterov,
    weightDecay: options.weightDecay,
  });
  const params = head.parameters().map((p) => p.data);
  const shuffleRng = new Rng(seed);
  const dropoutRng = new Rng((seed ^ 0x5bd1e995) >>> 0);
  const stepsPerEpoch = Math.ceil(train.n / batchSize);
  const totalSteps = epochs * stepsPerEpoch;
  const order = Int32Array.from({ length: train.n }, (_, i) => i);
  const xb = new Float32Array(Math.min(batchSize, train.n) * dim);
  const yb = new Int32Array(Math.min(batchSize, train.n));

  const history: EpochRow[] = [];
  let bestEpoch = 0;
  let bestLoss = Infinity;
  let bestWeights: Float32Array[] | undefined;
  let sinceImprovement = 0;
  let stoppedEarly = false;
  const task = progressOrSilent(options.progress).start('train head', epochs, 'epoch');

  for (let epoch = 0; epoch < epochs; epoch++) {
    const started = performance.now();
    shuffle(order, shuffleRng);
    let lossSum = 0;
    let hits = 0;
    let lrNow = lr;
    for (let s = 0; s < stepsPerEpoch; s++) {
      const start = s * batchSize;
      const bn = Math.min(batchSize, train.n - start);
      for (let r = 0; r < bn; r++) {
        const i = order[start + r];
        xb.set(train.x.subarray(i * dim, (i + 1) * dim), r * dim);
        yb[r] = train.y[i];
      }
      const labels = yb.subarray(0, bn);
      const pass = head.forwardTrain(xb.subarray(0, bn * dim), bn, dropoutRng);
      const { loss, grad } = softmaxCrossEntropy(pass.logits, labels, k, lossOptions);
      if (!Number.isFinite(loss)) {
        throw new GraftError('RUNTIME', `fitHead: training diverged at epoch ${epoch + 1}, step ${s + 1} (loss ${loss}); lower the learning rate or clip gradients`);
      }
      lossSum += loss * bn;
      const predicted = argmaxRows(pass.logits, k);
      for (let r = 0; r < bn; r++) if (predicted[r] === labels[r]) hits++;
      const grads = head.backward(pass, grad);
      if (options.clipNorm !== undefined) clipGradNorm(grads, options.clipNorm);
      lrNow = lr * schedule(epoch * stepsPerEpoch + s, totalSteps, epoch);
      optimizer.step(params, grads, lrNow);
    }
    const row: EpochRow = { epoch: epoch + 1, trainLoss: lossSum / train.n, trainAcc: hits / train.n, lr: lrNow, seconds: 0 };
    if (val) {
      const evaluation = evaluateHead(head, val, lossOptions);
      row.valLoss = evaluation.loss;
      row.valAcc = evaluation.accuracy;
      const minDelta = options.earlyStopping?.minDelta ?? 0;
      if (evaluation.loss < bestLoss - minDelta) {
        bestLoss = evaluation.loss;
        bestEpoch = epoch + 1;
        sinceImprovement = 0;
        if (options.earlyStopping) bestWeights = params.map((p) => Float32Array.from(p));
      } else {
        sinceImprovement++;
      }
    } else {
      bestEpoch = epoch + 1;
    }
    row.seconds = (performance.now() - started) / 1000;
    history.push(row);
    options.onEpoch?.(row);
    task.update(epoch + 1, `loss ${row.trainLoss.toFixed(4)}${row.valAcc !== undefined ? ` val acc ${row.valAcc.toFixed(4)}` : ''}`);
    if (options.earlyStopping && sinceImprovement >= options.earlyStopping.patience) {
      stoppedEarly = epoch + 1 < epochs;
      break;
    }
  }
  if (bestWeights) head.loadParameters(bestWeights);
  task.finish(stoppedEarly ? `stopped early, best epoch ${bestEpoch}` : `best epoch ${bestEpoch}`);
  return { history, bestEpoch, head, stoppedEarly };
}

/** One aligned line per epoch: `Epoch  1  train acc 0.9650  val acc 0.9810  train loss 0.1234  val loss 0.0567  lr 1.0e-3  0.12 s`. */
export function formatEpochRow(row: EpochRow, totalEpochs = 100): string {
  const epochWidth = String(totalEpochs).length;
  const parts = [`Epoch ${String(row.epoch).padStart(epochWidth)}`, `train acc ${row.trainAcc.toFixed(4)}`];
  if (row.valAcc !== undefined) parts.push(`val acc ${row.valAcc.toFixed(4)}`);
  parts.push(`train loss ${row.trainLoss.toFixed(4).padStart(7)}`);
  if (row.valLoss !== undefined) parts.push(`val loss ${row.valLoss.toFixed(4).padStart(7)}`);
  parts.push(`lr ${row.lr.toExponential(1)}`, `${row.seconds.toFixed(2).padStart(5)} s`);
  return parts.join('  ');
}

function checkDataset(head: Head, data: FeatureSet, what: string): void {
  const { x, n, dim } = data;
  if (!Number.isInteger(n) || n < 1) throw new GraftError('SHAPE', `${what}: n = ${n} must be a positive integer`);
  if (x.length !== n * dim) throw new GraftError('SHAPE', `${what}: ${x.length} feature values for ${n}×${dim}`);
  if (dim !== head.inputDim) throw new GraftError('SHAPE', `${what}: features have ${dim} dimensions, the head expects ${head.inputDim}`);
  checkLabels(data.y, n, head.nClasses, `${what} labels`);
  for (let j = 0; j < x.length; j++) {
    if (!Number.isFinite(x[j])) throw new GraftError('BAD_ARGUMENT', `${what}: feature [${Math.floor(j / dim)}, ${j % dim}] is ${x[j]}`);
  }
}

function shuffle(order: Int32Array, rng: Rng): void {
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
}
