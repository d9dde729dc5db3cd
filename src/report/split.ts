/**
 * The one builder of a split's metrics (accuracy, top-3, loss, per-class, confusion, most confused, top losses)
 * from the model's scores. Frozen heads, the end-to-end loop and `graft eval` all end here, so the numbers of
 * every report mean the same thing.
 */
import { GraftError } from '../util/errors.js';
import { logSumExp } from '../math/rows.js';
import { argmaxRows, checkLabels, classMetrics, confusionMatrix, mostConfused, topKAccuracy } from './metrics.js';
import type { SplitMetrics, TopLoss } from './schema.js';

export const MOST_CONFUSED_LISTED = 10;
export const TOP_LOSSES_LISTED = 16;

export interface SplitScores {
  /** Row-major [n, classes.length]. */
  scores: ArrayLike<number>;
  /** Whether `scores` are logits (softmax applied here) or already probabilities. */
  kind: 'logits' | 'probabilities';
  /** True class index of each row. */
  labels: ArrayLike<number>;
  classes: string[];
  /** Image file of each row (for the top losses); without it no top losses are listed. */
  paths?: string[];
}

/**
 * Probabilities and per-row cross-entropy. From logits the loss is log-sum-exp − logit (max-shifted: exact even
 * where the probability underflows to 0); from probabilities it is −log p, floored so that p = 0 gives a large
 * finite loss rather than Infinity (JSON has no Infinity).
 */
function probabilitiesAndLosses(scores: ArrayLike<number>, labels: ArrayLike<number>, k: number, kind: SplitScores['kind']): { p: Float64Array; losses: number[] } {
  const p = Float64Array.from(scores);
  const losses: number[] = [];
  for (let r = 0; r < labels.length; r++) {
    if (kind === 'probabilities') {
      losses.push(-Math.log(Math.max(p[r * k + labels[r]], 1e-30)));
      continue;
    }
    const lse = logSumExp(p, r * k, (r + 1) * k);
    losses.push(lse - p[r * k + labels[r]]);
    for (let c = 0; c < k; c++) p[r * k + c] = Math.exp(p[r * k + c] - lse);
  }
  return { p, losses };
}

/** Builds a split's metrics; see the module comment. */
export function splitMetrics(s: SplitScores): SplitMetrics {
  const k = s.classes.length;
  const n = s.labels.length;
  if (s.scores.length !== n * k) throw new GraftError('SHAPE', `splitMetrics: ${s.scores.length} scores for ${n} rows × ${k} classes`);
  if (s.paths && s.paths.length !== n) throw new GraftError('SHAPE', `splitMetrics: ${s.paths.length} paths for ${n} rows`);
  checkLabels(s.labels, n, k);
  const { p, losses } = probabilitiesAndLosses(s.scores, s.labels, k, s.kind);
  // Ranks come from the scores as given: softmax is monotonic, but exp can underflow to ties that logits do not have.
  const pred = argmaxRows(s.scores, k);
  const confusion = confusionMatrix(s.labels, pred, k);
  const perClass = classMetrics(confusion);
  return {
    n,
    accuracy: n ? perClass.accuracy : NaN,
    top3: n ? topKAccuracy(s.scores, s.labels, k, Math.min(3, k)) : NaN,
    loss: n ? losses.reduce((a, v) => a + v, 0) / n : NaN,
    perClass,
    confusion,
    mostConfused: mostConfused(confusion, s.classes, 1).slice(0, MOST_CONFUSED_LISTED),
    topLosses: s.paths ? topLosses(losses, p, pred, s.labels, s.classes, s.paths) : [],
  };
}

function topLosses(losses: number[], p: Float64Array, pred: Int32Array, labels: ArrayLike<number>, classes: string[], paths: string[]): TopLoss[] {
  const k = classes.length;
  const order = losses.map((_, r) => r).sort((a, b) => losses[b] - losses[a] || a - b);
  return order.slice(0, TOP_LOSSES_LISTED).map((r) => ({
    path: paths[r],
    actual: classes[labels[r]],
    predicted: classes[pred[r]],
    probability: p[r * k + pred[r]],
    actualProbability: p[r * k + labels[r]],
    loss: losses[r],
  }));
}
