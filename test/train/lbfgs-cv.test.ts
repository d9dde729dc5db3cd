import { test } from 'node:test';
import assert from 'node:assert/strict';
import { minimizeLbfgs } from '../../src/train/lbfgs.js';
import { LogisticProblem, maskWeights, parameterCount } from '../../src/train/logistic.js';
import { fitLogistic, selectWeightDecay, stratifiedFolds } from '../../src/train/select.js';
import { Rng } from '../../src/util/rng.js';

/** Gaussian blobs: class c centred at a random point, so the problem is learnable but not separable. */
function blobs(n: number, dim: number, k: number, seed: number) {
  const rng = new Rng(seed);
  const centres = Array.from({ length: k }, () => Array.from({ length: dim }, () => rng.normal()));
  const x = new Float32Array(n * dim);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % k;
    for (let d = 0; d < dim; d++) x[i * dim + d] = centres[y[i]][d] + 1.5 * rng.normal();
  }
  return { x, y, n, dim, nClasses: k };
}

/** Plain float64 full-batch gradient descent on mean CE + (λ/2)‖W‖²: the slow oracle. */
function gradientDescentOracle(data: ReturnType<typeof blobs>, lambda: number, steps: number, lr: number): Float64Array {
  const { x, y, n, dim, nClasses: k } = data;
  const p = new Float64Array(parameterCount(dim, k));
  const logits = new Float64Array(k);
  for (let s = 0; s < steps; s++) {
    const g = new Float64Array(p.length);
    for (let i = 0; i < n; i++) {
      let max = -Infinity;
      for (let c = 0; c < k; c++) {
        let z = p[k * dim + c];
        for (let d = 0; d < dim; d++) z += p[c * dim + d] * x[i * dim + d];
        logits[c] = z;
        max = Math.max(max, z);
      }
      let sum = 0;
      for (let c = 0; c < k; c++) sum += Math.exp(logits[c] - max);
      for (let c = 0; c < k; c++) {
        const e = (Math.exp(logits[c] - max) / sum - (c === y[i] ? 1 : 0)) / n;
        for (let d = 0; d < dim; d++) g[c * dim + d] += e * x[i * dim + d];
        g[k * dim + c] += e;
      }
    }
    for (let j = 0; j < k * dim; j++) g[j] += lambda * p[j];
    for (let j = 0; j < p.length; j++) p[j] -= lr * g[j];
  }
  return p;
}

test('L-BFGS minimises a convex quadratic to its known optimum', async () => {
  const n = 50;
  const c = Float64Array.from({ length: n }, (_, i) => 1 + i);
  const r = await minimizeLbfgs((x, g) => {
    let f = 0;
    for (let j = 0; j < n; j++) {
      f += 0.5 * c[j] * (x[j] - j) ** 2;
      g[j] = c[j] * (x[j] - j);
    }
    return f;
  }, new Float64Array(n), { gradTol: 1e-8, relTol: 0 });
  assert.ok(r.converged, `not converged after ${r.iterations} iterations`);
  for (let j = 0; j < n; j++) assert.ok(Math.abs(r.x[j] - j) < 1e-6, `x[${j}] = ${r.x[j]}`);
});

test('onnxruntime logistic loss: L-BFGS optimum has gradient ≈ 0 and matches a gradient-descent oracle', async () => {
  const data = blobs(60, 6, 3, 1);
  const lambda = 0.05;
  const problem = await LogisticProblem.create(data);
  try {
    const rows = Array.from({ length: data.n }, (_, i) => i);
    const fit = await fitLogistic(problem, rows, lambda, undefined, { gradTol: 1e-5 });
    const grad = new Float64Array(fit.x.length);
    await problem.evaluate(fit.x, maskWeights(data.n, rows), lambda, grad);
    const gradMax = Math.max(...grad.map(Math.abs));
    assert.ok(gradMax < 1e-4, `max |gradient| at the optimum ${gradMax}`);
    const oracle = gradientDescentOracle(data, lambda, 3000, 0.5);
    const diff = Math.max(...oracle.map((v, j) => Math.abs(v - fit.x[j])));
    assert.ok(diff < 2e-3, `L-BFGS vs gradient descent: max parameter difference ${diff}`);
  } finally {
    await problem.release();
  }
});

test('a 0/1 row mask is the same problem as the subset alone', async () => {
  const data = blobs(40, 5, 2, 2);
  const rows = Array.from({ length: 25 }, (_, i) => i);
  const whole = await LogisticProblem.create(data);
  const subset = await LogisticProblem.create({ ...data, x: data.x.subarray(0, 25 * data.dim), y: data.y.subarray(0, 25), n: 25 });
  try {
    const p = Float64Array.from({ length: parameterCount(data.dim, 2) }, (_, j) => Math.sin(j));
    const g1 = new Float64Array(p.length);
    const g2 = new Float64Array(p.length);
    const f1 = await whole.evaluate(p, maskWeights(data.n, rows), 0.1, g1);
    const f2 = await subset.evaluate(p, maskWeights(25, rows), 0.1, g2);
    assert.ok(Math.abs(f1 - f2) < 1e-5, `${f1} vs ${f2}`);
    for (let j = 0; j < p.length; j++) assert.ok(Math.abs(g1[j] - g2[j]) < 1e-5);
  } finally {
    await whole.release();
    await subset.release();
  }
});

test('stratified folds keep every class spread over the folds, seeded', () => {
  const labels = Int32Array.from({ length: 50 }, (_, i) => (i < 40 ? 0 : 1));
  const rows = Array.from({ length: 50 }, (_, i) => i);
  const folds = stratifiedFolds(rows, labels, 5, 7);
  for (let f = 0; f < 5; f++) {
    assert.equal(rows.filter((r) => folds[r] === f && labels[r] === 0).length, 8);
    assert.equal(rows.filter((r) => folds[r] === f && labels[r] === 1).length, 2);
  }
  assert.deepEqual(stratifiedFolds(rows, labels, 5, 7), folds);
});

test('cross-validation (held-out log loss) prefers a useful penalty over an absurd one whose argmax is the same', async () => {
  const data = blobs(80, 8, 4, 3);
  const problem = await LogisticProblem.create(data);
  try {
    const rows = Array.from({ length: data.n }, (_, i) => i);
    const sel = await selectWeightDecay(problem, { rows, labels: data.y, weightDecays: [1e4, 1e-2], folds: 4, seed: 1 });
    assert.equal(sel.scores.length, 2);
    assert.equal(sel.weightDecay, 1e-2, JSON.stringify(sel.scores));
    assert.ok(sel.scores[1].loss < sel.scores[0].loss);
  } finally {
    await problem.release();
  }
});

test('a batched evaluation (one run for several folds) equals the folds evaluated one by one', async () => {
  const data = blobs(45, 5, 3, 4);
  const problem = await LogisticProblem.create(data);
  try {
    const size = parameterCount(data.dim, data.nClasses);
    const items = [0, 1, 2].map((f) => ({
      params: Float64Array.from({ length: size }, (_, j) => Math.sin(j + 3 * f)),
      sampleWeight: maskWeights(data.n, Array.from({ length: data.n }, (_, i) => i).filter((i) => i % 3 !== f)),
      lambda: [0.1, 0.01, 0.001][f],
      grad: new Float64Array(size),
    }));
    const batched = await problem.evaluateBatch(items);
    for (const [f, item] of items.entries()) {
      const grad = new Float64Array(size);
      const value = await problem.evaluate(item.params, item.sampleWeight, item.lambda, grad);
      assert.ok(Math.abs(value - batched[f]) < 1e-6, `fold ${f}: ${value} vs ${batched[f]}`);
      for (let j = 0; j < size; j++) assert.ok(Math.abs(grad[j] - item.grad[j]) < 1e-6, `fold ${f} gradient[${j}]: ${grad[j]} vs ${item.grad[j]}`);
    }
    assert.equal(problem.evaluations, 3 + 3);
    assert.equal(problem.runs, 1 + 3);
  } finally {
    await problem.release();
  }
});

test('cross-validation with concurrent batched folds is reproducible: same seed, same scores and start', async () => {
  const data = blobs(60, 6, 3, 5);
  const rows = Array.from({ length: data.n }, (_, i) => i);
  const run = async () => {
    const problem = await LogisticProblem.create(data);
    try {
      return await selectWeightDecay(problem, { rows, labels: data.y, weightDecays: [1e-1, 1e-2, 1e-3], folds: 3, seed: 2 });
    } finally {
      await problem.release();
    }
  };
  const [a, b] = [await run(), await run()];
  assert.deepEqual(a.scores, b.scores);
  assert.deepEqual(Array.from(a.start), Array.from(b.start));
  assert.equal(a.evaluations, b.evaluations);
});
