import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogisticProblem } from '../../src/train/logistic.js';
import { selectWeightDecay, stratifiedFolds } from '../../src/train/select.js';
import { StackedHeads, fitStackingWeights, logLoss, mixLogits, stackedParameters } from '../../src/train/stacking.js';
import { Rng } from '../../src/util/rng.js';

/** Draws a label from softmax(z) for every row of [n, k] logits z. */
function sampleLabels(z: Float32Array, k: number, rng: Rng): Int32Array {
  const n = z.length / k;
  const y = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const p = Array.from({ length: k }, (_, c) => Math.exp(z[r * k + c]));
    const total = p.reduce((a, v) => a + v, 0);
    let u = rng.next() * total;
    let c = 0;
    while (c < k - 1 && (u -= p[c]) > 0) c++;
    y[r] = c;
  }
  return y;
}

test('stacking weights are the maximum-likelihood mixture: they recover the weights the labels were drawn with', async () => {
  const rng = new Rng(3);
  const [n, k] = [20000, 5];
  const z1 = Float32Array.from({ length: n * k }, () => 2 * rng.normal());
  const z2 = Float32Array.from({ length: n * k }, () => 2 * rng.normal());
  const y = sampleLabels(mixLogits([z1, z2], [0.7, 0.4]), k, rng);
  const { weights, loss } = await fitStackingWeights([z1, z2], y, k);
  assert.ok(Math.abs(weights[0] - 0.7) < 0.04 && Math.abs(weights[1] - 0.4) < 0.04, `weights ${weights}`);
  // The reported loss is the loss of the returned weights, and no nearby weights do better (a minimum).
  assert.ok(Math.abs(loss - logLoss(mixLogits([z1, z2], weights), y, k)) < 1e-6);
  for (const [d0, d1] of [[0.02, 0], [-0.02, 0], [0, 0.02], [0, -0.02]]) {
    assert.ok(logLoss(mixLogits([z1, z2], [weights[0] + d0, weights[1] + d1]), y, k) > loss);
  }
});

test('stacking weights stay non-negative: a block the labels depend on negatively gets weight ~0, not a negative one', async () => {
  const rng = new Rng(4);
  const [n, k] = [5000, 4];
  const z1 = Float32Array.from({ length: n * k }, () => 2 * rng.normal());
  const z2 = Float32Array.from({ length: n * k }, () => 2 * rng.normal());
  const y = sampleLabels(mixLogits([z1, z2], [1, -0.5]), k, rng);
  const { weights } = await fitStackingWeights([z1, z2], y, k);
  assert.ok(weights[1] >= 0 && weights[1] < 1e-3, `weights ${weights}`);
  assert.ok(weights[0] > 0.5 && weights[0] < 1.05, `weights ${weights}`);
});

test('the stacked parameters are one linear head whose logits are the weighted sum of the blocks\' logits', () => {
  const rng = new Rng(5);
  const [k, dims] = [3, [4, 2]];
  const blocks = dims.map((d) => Float64Array.from({ length: k * d + k }, () => rng.normal()));
  const weights = [0.6, 1.7];
  const stacked = stackedParameters(blocks, dims, weights, k);
  const x = Array.from({ length: 6 }, () => rng.normal());
  const linear = (p: Float64Array, xs: number[], d: number) => Array.from({ length: k }, (_, c) => p[k * d + c] + xs.reduce((a, v, j) => a + p[c * d + j] * v, 0));
  const expected = linear(blocks[0], x.slice(0, 4), 4).map((v, c) => weights[0] * v + weights[1] * linear(blocks[1], x.slice(4), 2)[c]);
  linear(stacked, x, 6).forEach((v, c) => assert.ok(Math.abs(v - expected[c]) < 1e-12));
});

/** Two feature blocks of one matrix: the first separates the classes, the second is noise. */
function informativeAndNoise(n: number, k: number, seed: number) {
  const rng = new Rng(seed);
  const dims = [6, 40];
  const dim = dims[0] + dims[1];
  const centres = Array.from({ length: k }, () => Array.from({ length: dims[0] }, () => 1.2 * rng.normal()));
  const x = new Float32Array(n * dim);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % k;
    for (let d = 0; d < dim; d++) x[i * dim + d] = (d < dims[0] ? centres[y[i]][d] : 0) + rng.normal();
  }
  return { x, y, n, dims, nClasses: k };
}

test('out-of-fold logits are each row\'s logits from the fold that held it out, and stacking all but drops a noise block', async () => {
  const data = informativeAndNoise(300, 3, 11);
  const dim = data.dims[0] + data.dims[1];
  const rows = Array.from({ length: data.n }, (_, i) => i);
  const problem = await LogisticProblem.create({ x: data.x, y: data.y, n: data.n, dim, nClasses: 3 });
  try {
    const sel = await selectWeightDecay(problem, { rows, labels: data.y, folds: 5, seed: 2, outOfFold: true });
    // The mean over folds of each fold's held-out loss, recomputed from the returned rows, is the CV score.
    const fold = stratifiedFolds(rows, data.y, 5, 2);
    let sum = 0;
    for (let f = 0; f < 5; f++) {
      const inFold = rows.filter((r) => fold[r] === f);
      const z = new Float32Array(inFold.length * 3);
      inFold.forEach((r, i) => z.set(sel.outOfFold!.subarray(r * 3, r * 3 + 3), i * 3));
      sum += logLoss(z, inFold.map((r) => data.y[r]), 3);
    }
    const chosen = sel.scores.find((s) => s.weightDecay === sel.weightDecay)!;
    assert.ok(Math.abs(sum / 5 - chosen.loss) < 1e-6, `${sum / 5} vs ${chosen.loss}`);
  } finally {
    await problem.release();
  }
  const stacked = await StackedHeads.select({ ...data, nClasses: 3 }, { rows, labels: data.y, folds: 5, seed: 2 });
  try {
    const [informative, noise] = stacked.weights;
    assert.ok(informative > 0.5 && Math.abs(noise) < 0.25 * informative, `weights ${stacked.weights}`);
    const fitted = await stacked.fit(rows);
    assert.equal(fitted.params.length, 3 * dim + 3);
    assert.deepEqual(fitted.params, stackedParameters(fitted.blocks, data.dims, stacked.weights, 3));
  } finally {
    await stacked.release();
  }
});
