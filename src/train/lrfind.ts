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
  const sweep = new RangeTest(o);
  if (data.n < 1) throw new GraftError('DATASET', 'lr-find: no training images');
  const rng = new Rng(o.seed);
  const params = head.parameters().map((p) => p.data);
  const optimizer = createOptimizer(o.optimizer);
  const k = head.nClasses;
  const batch = Math.min(o.batchSize, data.n);
  const xb = new Float32Array(batch * data.dim);
  const yb = new Int32Array(batch);
  for (let s = 0; s < o.steps; s++) {
    for (let r = 0; r < batch; r++) {
      const i = rng.int(data.n);
      xb.set(data.x.subarray(i * data.dim, (i + 1) * data.dim), r * data.dim);
      yb[r] = data.y[i];
    }
    const pass = head.forwardTrain(xb, batch, rng);
    const { loss, grad } = softmaxCrossEntropy(pass.logits, yb, k);
    if (!sweep.record(s, loss)) break;
    optimizer.step(params, head.backward(pass, grad), sweep.lr(s));
  }
  return sweep.result();
}

/**
 * The bookkeeping of a range test, whatever trains: the learning rate of step s grows geometrically from startLr
 * to endLr over `steps`; `record` takes the loss measured at step s (before its update) and says whether to go on
 * (false once the loss is not finite or the smoothed loss exceeds divergeFactor × its best).
 */
export class RangeTest {
  readonly points: LrFindResult['points'] = [];
  private readonly ratio: number;
  private avg = 0;
  private best = Infinity;
  private stoppedEarly = false;

  constructor(private readonly o: Required<Pick<LrFindOptions, 'startLr' | 'endLr' | 'steps' | 'divergeFactor'>>) {
    if (!(o.startLr > 0 && o.endLr > o.startLr)) throw new GraftError('BAD_ARGUMENT', `lr-find: need 0 < start lr (${o.startLr}) < end lr (${o.endLr})`);
    if (!Number.isInteger(o.steps) || o.steps < 5) throw new GraftError('BAD_ARGUMENT', `lr-find: steps ${o.steps} must be an integer ≥ 5`);
    this.ratio = Math.pow(o.endLr / o.startLr, 1 / (o.steps - 1));
  }

  /** Learning rate of step `s` (0-based). */
  lr(s: number): number {
    return this.o.startLr * Math.pow(this.ratio, s);
  }

  record(s: number, loss: number): boolean {
    if (!Number.isFinite(loss)) {
      this.stoppedEarly = true;
      return false;
    }
    this.avg = 0.98 * this.avg + 0.02 * loss;
    const smoothed = this.avg / (1 - Math.pow(0.98, s + 1));
    this.points.push({ lr: this.lr(s), loss, smoothed });
    this.best = Math.min(this.best, smoothed);
    if (s > 0 && smoothed > this.o.divergeFactor * this.best) {
      this.stoppedEarly = s + 1 < this.o.steps;
      return false;
    }
    return true;
  }

  result(): LrFindResult {
    return { points: this.points, ...suggest(this.points), stoppedEarly: this.stoppedEarly };
  }
}

/**
 * Steepest descent of the smoothed loss against log lr (central differences), ignoring the exploding tail and, as
 * fastai does, the first tenth of the sweep: there the bias-corrected average rests on a few batches, and a fine-tune
 * that starts from a fitted head shows only its noise.
 */
export function suggest(points: LrFindResult['points']): { suggested: number; minimum: number } {
  if (points.length < 3) throw new GraftError('RUNTIME', `lr-find: only ${points.length} steps before the loss diverged; lower the start lr`);
  let minAt = 0;
  points.forEach((p, i) => { if (p.smoothed < points[minAt].smoothed) minAt = i; });
  const skip = Math.max(1, Math.min(Math.floor(points.length / 10), minAt - 1));
  let steepest = skip;
  let slope = Infinity;
  for (let i = skip; i < Math.max(skip + 1, minAt); i++) {
    const d = (points[i + 1].smoothed - points[i - 1].smoothed) / Math.log(points[i + 1].lr / points[i - 1].lr);
    if (d < slope) { slope = d; steepest = i; }
  }
  return { suggested: points[steepest].lr, minimum: points[minAt].lr };
}
