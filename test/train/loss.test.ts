import { test } from 'node:test';
import assert from 'node:assert/strict';
import { balancedClassWeights, softmaxCrossEntropy } from '../../src/train/loss.js';
import { GraftError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

const K = 4;
const labels = [2, 0, 3, 3, 1];
const weights = [0.5, 2, 1.25, 3];

function randomLogits(n: number, k: number, seed: number, scale = 2): Float64Array {
  const rng = new Rng(seed);
  return Float64Array.from({ length: n * k }, () => rng.normal() * scale);
}

/** The PyTorch definition written out directly: smoothed target q, per-class weights, mean over Σ w[y]. */
function referenceLoss(z: Float64Array, y: number[], k: number, eps: number, w?: number[]): number {
  let num = 0;
  let den = 0;
  y.forEach((label, i) => {
    const row = Array.from(z.subarray(i * k, (i + 1) * k));
    const norm = row.reduce((s, v) => s + Math.exp(v), 0);
    const logP = row.map((v) => Math.log(Math.exp(v) / norm));
    const wc = (c: number) => (w ? w[c] : 1);
    // nll part: (1−ε)·w_y·(−log p_y); smoothing part: (ε/K)·Σ_c w_c·(−log p_c)
    num += (1 - eps) * wc(label) * -logP[label];
    for (let c = 0; c < k; c++) num += (eps / k) * wc(c) * -logP[c];
    den += wc(label);
  });
  return num / den;
}

test('plain cross-entropy equals mean −log softmax of the label', () => {
  const z = randomLogits(labels.length, K, 1);
  const { loss } = softmaxCrossEntropy(z, labels, K);
  assert.ok(Math.abs(loss - referenceLoss(z, labels, K, 0)) < 1e-12);
});

test('loss with label smoothing and class weights matches the PyTorch definition', () => {
  const z = randomLogits(labels.length, K, 2);
  for (const eps of [0, 0.1, 0.35]) {
    for (const w of [undefined, weights]) {
      const { loss } = softmaxCrossEntropy(z, labels, K, { labelSmoothing: eps, classWeights: w });
      assert.ok(Math.abs(loss - referenceLoss(z, labels, K, eps, w)) < 1e-12, `eps ${eps} weights ${String(w)}`);
    }
  }
});

test('uniform class weights do not change the loss (the mean divides by the weight sum)', () => {
  const z = randomLogits(labels.length, K, 3);
  const a = softmaxCrossEntropy(z, labels, K, { labelSmoothing: 0.2 });
  const b = softmaxCrossEntropy(z, labels, K, { labelSmoothing: 0.2, classWeights: [7, 7, 7, 7] });
  assert.ok(Math.abs(a.loss - b.loss) < 1e-12);
  a.grad.forEach((g, j) => assert.ok(Math.abs(g - b.grad[j]) < 1e-12));
});

test('gradient matches central finite differences (float64, smoothing + weights)', () => {
  const z = randomLogits(labels.length, K, 4);
  const opts = { labelSmoothing: 0.15, classWeights: weights };
  const { grad } = softmaxCrossEntropy(z, labels, K, opts);
  // Central differences in float64: truncation ~h²·|f'''| ≈ 1e-10, rounding ~1e-16/h ≈ 1e-11.
  const h = 1e-5;
  for (let j = 0; j < z.length; j++) {
    const plus = Float64Array.from(z);
    const minus = Float64Array.from(z);
    plus[j] += h;
    minus[j] -= h;
    const fd = (softmaxCrossEntropy(plus, labels, K, opts).loss - softmaxCrossEntropy(minus, labels, K, opts).loss) / (2 * h);
    assert.ok(Math.abs(fd - grad[j]) < 1e-8, `logit ${j}: analytic ${grad[j]} vs numeric ${fd}`);
  }
});

test('large logits stay finite (log-sum-exp is shifted)', () => {
  const z = Float64Array.from([1000, -1000, 0, 999, 5000, 4990, 4995, 0]);
  const { loss, grad } = softmaxCrossEntropy(z, [0, 1], K);
  // Row 0: −log p_0 = log(1 + e^{-1} + ...) ≈ log(1 + e^{-1}); row 1: −log p_1 = 5000 − 4990 + log(1 + e^{-5} + e^{-10}).
  const expected = (Math.log(1 + Math.exp(-1)) + 10 + Math.log(1 + Math.exp(-5) + Math.exp(-10))) / 2;
  assert.ok(Math.abs(loss - expected) < 1e-9);
  assert.ok(grad.every(Number.isFinite));
});

test('invalid labels and shapes are reported as GraftError', () => {
  const z = new Float64Array(2 * K);
  assert.throws(() => softmaxCrossEntropy(z, [0, K], K), (e: unknown) => e instanceof GraftError && e.code === 'BAD_ARGUMENT');
  assert.throws(() => softmaxCrossEntropy(z, [0, 1], 3), (e: unknown) => e instanceof GraftError && e.code === 'SHAPE');
  assert.throws(() => softmaxCrossEntropy(z, [0, 1], K, { classWeights: [1, 1] }), GraftError);
});

test('balancedClassWeights is n / (K · count) and makes every class weigh the same in total', () => {
  const y = [0, 0, 0, 1, 2, 2, 0, 1];
  const w = balancedClassWeights(y, 3);
  const counts = [4, 2, 2];
  counts.forEach((c, k) => assert.ok(Math.abs(w[k] - y.length / (3 * c)) < 1e-15));
  // Each class contributes count_c · w_c = n / K.
  counts.forEach((c, k) => assert.ok(Math.abs(c * w[k] - y.length / 3) < 1e-12));
  assert.equal(balancedClassWeights([0, 0], 2)[1], 0);
});
