import { GraftError } from '../util/errors.js';
import { logSumExp, type FloatArray } from '../math/rows.js';
import { checkLabels } from '../report/metrics.js';

export type { FloatArray };

export interface CrossEntropyOptions {
  /** ε of PyTorch `CrossEntropyLoss(label_smoothing=ε)`: the target is (1−ε)·onehot + ε/K. */
  labelSmoothing?: number;
  /** Per-class weights (length K); the mean divides by Σ weight[label] as PyTorch does. */
  classWeights?: ArrayLike<number>;
}

export interface LossResult {
  loss: number;
  /** d loss / d logits, row-major [n, K]. */
  grad: Float64Array;
}

// Label checks live with the metrics (report/), which prediction uses too.
export { checkLabels };

/**
 * Mean softmax cross-entropy over row-major logits [n, K] with PyTorch semantics for label smoothing
 * and class weights: L = Σ_i [(1−ε)·w_{y_i}·(−log p_{i,y_i}) + (ε/K)·Σ_c w_c·(−log p_{i,c})] / Σ_i w_{y_i}.
 */
export function softmaxCrossEntropy(
  logits: FloatArray,
  labels: ArrayLike<number>,
  nClasses: number,
  options: CrossEntropyOptions = {},
): LossResult {
  const k = nClasses;
  const n = logits.length / k;
  if (!Number.isInteger(n)) {
    throw new GraftError('SHAPE', `softmaxCrossEntropy: ${logits.length} logits is not a multiple of ${k} classes`);
  }
  checkLabels(labels, n, k);
  const eps = options.labelSmoothing ?? 0;
  if (!(eps >= 0 && eps <= 1)) {
    throw new GraftError('BAD_ARGUMENT', `softmaxCrossEntropy: label smoothing ${eps} is outside [0, 1]`);
  }
  const w = options.classWeights;
  if (w && w.length !== k) {
    throw new GraftError('SHAPE', `softmaxCrossEntropy: ${w.length} class weights for ${k} classes`);
  }
  let sumW = k;
  if (w) {
    sumW = 0;
    for (let c = 0; c < k; c++) sumW += w[c];
  }
  const grad = new Float64Array(n * k);
  const smooth = eps / k;
  let total = 0;
  let denom = 0;
  for (let i = 0; i < n; i++) {
    const row = i * k;
    const y = labels[i];
    const lse = logSumExp(logits, row, row + k);
    for (let c = 0; c < k; c++) grad[row + c] = Math.exp(logits[row + c] - lse);
    const wy = w ? w[y] : 1;
    let smoothTerm = 0;
    if (eps > 0) {
      for (let c = 0; c < k; c++) smoothTerm += (w ? w[c] : 1) * (lse - logits[row + c]);
    }
    total += (1 - eps) * wy * (lse - logits[row + y]) + smooth * smoothTerm;
    denom += wy;
    // d/dz_j of the numerator: p_j·((1−ε)w_y + (ε/K)Σw) − (1−ε)w_y·[j=y] − (ε/K)w_j
    const pScale = (1 - eps) * wy + smooth * sumW;
    for (let c = 0; c < k; c++) grad[row + c] = grad[row + c] * pScale - smooth * (w ? w[c] : 1);
    grad[row + y] -= (1 - eps) * wy;
  }
  if (!(denom > 0)) {
    throw new GraftError('BAD_ARGUMENT', 'softmaxCrossEntropy: the class weights of the batch sum to zero');
  }
  const inv = 1 / denom;
  for (let j = 0; j < grad.length; j++) grad[j] *= inv;
  return { loss: total * inv, grad };
}

/** sklearn's class_weight='balanced': n / (K · count_c); a class with no samples gets weight 0. */
export function balancedClassWeights(labels: ArrayLike<number>, nClasses: number): Float64Array {
  checkLabels(labels, labels.length, nClasses);
  const counts = new Float64Array(nClasses);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  const weights = new Float64Array(nClasses);
  for (let c = 0; c < nClasses; c++) {
    weights[c] = counts[c] > 0 ? labels.length / (nClasses * counts[c]) : 0;
  }
  return weights;
}
