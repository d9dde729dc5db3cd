/**
 * Learning-rate range test (Smith 2017, "Cyclical learning rates"; fastai's `lr_find`): train the head on
 * mini-batches while the learning rate grows exponentially from `startLr` to `endLr`, record the smoothed loss,
 * stop once it explodes. The suggestion is fastai's "steepest": the rate where the smoothed loss falls fastest.
 */
import { GraftError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import type { DenseHead } from './heads.js';
import { softmaxCrossEntropy } from './loss.js';
import { createOptimizer, type OptimizerKind } from '../optim/optim.js';
import type { FeatureSet } from './fit.js';

export interface LrFindOptions {
  startLr?: number;
  endLr?: number;
  steps?: number;
  batchSize?: number;
  optimizer?: OptimizerKind;
  /** Stop when the smoothed loss exceeds this multiple of the best smoothed loss. */
  divergeFactor?: number;
  seed?: number;
}

export interface LrFindResult {
  /** One point per step: learning rate, raw and smoothed (bias-corrected EMA, β = 0.98) loss. */
  points: { lr: number; loss: number; smoothed: number }[];
  /** Learning rate of the steepest descent of the smoothed loss. */
  suggested: number;
  /** The learning rate of the lowest smoothed loss (fastai's "minimum"; one tenth of it is a common choice too). */
  minimum: number;
  stoppedEarly: boolean;
}

export const LR_FIND_DEFAULTS = { startLr: 1e-7, endLr: 10, steps: 100, batchSize: 64, optimizer: 'adam' as OptimizerKind, divergeFactor: 4, seed: 13 };

export function lrFind(head: DenseHead, data: FeatureSet, opts: LrFindOptions = {}): LrFindResult {
  const o = { ...LR_FIND_DEFAULTS, ...opts };
  if (!(o.startLr > 0 && o.endLr > o.startLr)) throw new GraftError('BAD_ARGUMENT', `lr-find: need 0 < start lr (${o.startLr}) < end lr (${o.endLr})`);
  if (!Number.isInteger(o.steps) || o.steps < 5) throw new GraftError('BAD_ARGUMENT', `lr-find: steps ${o.steps} must be an integer ≥ 5`);
  if (data.n < 1) throw new GraftError('DATASET', 'lr-find: no training images');
  const rng = new Rng(o.seed);
  const params = head.parameters().map((p) => p.data);
  const optimizer = createOptimizer(o.optimizer);
  const k = head.nClasses;
  const batch = Math.min(o.batchSize, data.n);
  const xb = new Float32Array(batch * data.dim);
  const yb = new Int32Array(batch);
  const ratio = Math.pow(o.endLr / o.startLr, 1 / (o.steps - 1));
  const points: LrFindResult['points'] = [];
  let avg = 0;
  let best = Infinity;
  let stoppedEarly = false;
  for (let s = 0; s < o.steps; s++) {
    const lr = o.startLr * Math.pow(ratio, s);
    for (let r = 0; r < batch; r++) {
      const i = rng.int(data.n);
      xb.set(data.x.subarray(i * data.dim, (i + 1) * data.dim), r * data.dim);
      yb[r] = data.y[i];
    }
    const pass = head.forwardTrain(xb, batch, rng);
    const { loss, grad } = softmaxCrossEntropy(pass.logits, yb, k);
    if (!Number.isFinite(loss)) { stoppedEarly = true; break; }
    avg = 0.98 * avg + 0.02 * loss;
    const smoothed = avg / (1 - Math.pow(0.98, s + 1));
    points.push({ lr, loss, smoothed });
    best = Math.min(best, smoothed);
    if (s > 0 && smoothed > o.divergeFactor * best) { stoppedEarly = s + 1 < o.steps; break; }
    optimizer.step(params, head.backward(pass, grad), lr);
  }
  return { points, ...suggest(points), stoppedEarly };
}

/** Steepest descent of the smoothed loss against log lr (central differences), ignoring the exploding tail. */
export function suggest(points: LrFindResult['points']): { suggested: number; minimum: number } {
  if (points.length < 3) throw new GraftError('RUNTIME', `lr-find: only ${points.length} steps before the loss diverged; lower the start lr`);
  let minAt = 0;
  points.forEach((p, i) => { if (p.smoothed < points[minAt].smoothed) minAt = i; });
  let steepest = 1;
  let slope = Infinity;
  for (let i = 1; i < Math.max(2, minAt); i++) {
    const d = (points[i + 1].smoothed - points[i - 1].smoothed) / Math.log(points[i + 1].lr / points[i - 1].lr);
    if (d < slope) { slope = d; steepest = i; }
  }
  return { suggested: points[steepest].lr, minimum: points[minAt].lr };
}
