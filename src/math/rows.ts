/**
 * Row maths on row-major [rows, cols] arrays of scores: stable softmax, log-sum-exp, argmax, top-k.
 * One home, because training, evaluation, prediction, dream, explain and the attacks all need the same numbers.
 */
import { GraftError } from '../util/errors.js';

export type FloatArray = Float32Array | Float64Array;

/** log Σ exp(values[from..to)), shifted by the maximum so that no exp overflows. */
export function logSumExp(values: ArrayLike<number>, from = 0, to = values.length): number {
  let max = -Infinity;
  for (let i = from; i < to; i++) if (values[i] > max) max = values[i];
  let sum = 0;
  for (let i = from; i < to; i++) sum += Math.exp(values[i] - max);
  return max + Math.log(sum);
}

/** Softmax of every row of x (rows × cols, cols = x.length / rows), shifted by the row maximum for stability. */
export function softmaxRows(x: Float32Array, rows: number): Float32Array {
  const cols = x.length / rows;
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let c = 0; c < cols; c++) max = Math.max(max, x[r * cols + c]);
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += (out[r * cols + c] = Math.exp(x[r * cols + c] - max));
    for (let c = 0; c < cols; c++) out[r * cols + c] /= sum;
  }
  return out;
}

/** Index (relative to `from`) of the largest of values[from..to); the first one on ties. */
export function argmax(values: ArrayLike<number>, from = 0, to = values.length): number {
  let best = from;
  for (let i = from + 1; i < to; i++) if (values[i] > values[best]) best = i;
  return best - from;
}

/** Index of the largest logit of every row of [n, nClasses] (first one on ties). */
export function argmaxRows(logits: ArrayLike<number>, nClasses: number): Int32Array {
  const n = logits.length / nClasses;
  if (!Number.isInteger(n)) throw new GraftError('SHAPE', `argmaxRows: ${logits.length} logits is not a multiple of ${nClasses} classes`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = argmax(logits, i * nClasses, (i + 1) * nClasses);
  return out;
}

export interface Prediction { index: number; label: string; probability: number }

/** The k most probable classes of one row of probabilities, most probable first. */
export function topK(probs: Float32Array, labels: string[], k: number): Prediction[] {
  const idx = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]).slice(0, k);
  return idx.map((i) => ({ index: i, label: labels[i] ?? `class ${i}`, probability: probs[i] }));
}
