import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateHead, fitHead, formatEpochRow, type FeatureSet } from '../../src/train/fit.js';
import type { EpochRow } from '../../src/report/history.js';
import { LinearHead, MlpHead } from '../../src/train/heads.js';
import { GraftError } from '../../src/util/errors.js';
import type { ProgressSink } from '../../src/util/progress.js';
import { Rng } from '../../src/util/rng.js';

/** Points whose label is the side of a random hyperplane, with a margin of 0.3 around it. */
function separable(n: number, dim: number, seed: number): FeatureSet {
  const rng = new Rng(seed);
  const w = Array.from({ length: dim }, () => rng.normal());
  const norm = Math.hypot(...w);
  const x = new Float32Array(n * dim);
  const y = new Int32Array(n);
  for (let i = 0; i < n; ) {
    const p = Array.from({ length: dim }, () => rng.normal());
    const side = p.reduce((s, v, k) => s + v * w[k], 0) / norm;
    if (Math.abs(side) < 0.3) continue;
    x.set(p, i * dim);
    y[i++] = side > 0 ? 1 : 0;
  }
  return { x, y, n, dim };
}

/** Three isotropic unit-variance Gaussians (equal priors) centred on a triangle in the first two of `dim` coordinates. */
const blobCentres = [
  [0, 1.6],
  [-1.4, -0.8],
  [1.4, -0.8],
];
function blobs(n: number, dim: number, seed: number): FeatureSet {
  const rng = new Rng(seed);
  const x = new Float32Array(n * dim);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = rng.int(3);
    y[i] = c;
    for (let k = 0; k < dim; k++) x[i * dim + k] = (k < 2 ? blobCentres[c][k] : 0) + rng.normal();
  }
  return { x, y, n, dim };
}

/** Accuracy of the Bayes classifier on `data`: with equal priors and equal isotropic covariances it is the nearest centre. */
function bayesAccuracy(data: FeatureSet): number {
  let hits = 0;
  for (let i = 0; i < data.n; i++) {
    const px = data.x[i * data.dim];
    const py = data.x[i * data.dim + 1];
    const d = blobCentres.map(([cx, cy]) => (px - cx) ** 2 + (py - cy) ** 2);
    if (d.indexOf(Math.min(...d)) === data.y[i]) hits++;
  }
  return hits / data.n;
}

/** XOR of the signs of two coordinates, kept 0.1 away from the axes: not linearly separable. */
function xor(n: number, seed: number): FeatureSet {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 2);
  const y = new Int32Array(n);
  for (let i = 0; i < n; ) {
    const a = rng.uniform(-1, 1);
    const b = rng.uniform(-1, 1);
    if (Math.abs(a) < 0.1 || Math.abs(b) < 0.1) continue;
    x[i * 2] = a;
    x[i * 2 + 1] = b;
    y[i++] = a > 0 !== b > 0 ? 1 : 0;
  }
  return { x, y, n, dim: 2 };
}

const withoutTime = (h: EpochRow[]) => h.map(({ seconds: _seconds, ...rest }) => rest);

test('linearly separable data reaches 100% training accuracy', () => {
  const train = separable(400, 10, 1);
  const head = new LinearHead({ inputDim: 10, nClasses: 2, seed: 1 });
  const { history } = fitHead({ head, train, epochs: 40, batchSize: 32, optimizer: 'adam', lr: 0.05, seed: 1 });
  assert.equal(evaluateHead(head, train).accuracy, 1);
  assert.ok(history.at(-1)!.trainLoss < history[0].trainLoss);
});

test('3-class Gaussian blobs: logistic regression reaches the Bayes accuracy', () => {
  const dim = 6;
  const train = blobs(1500, dim, 2);
  const test = blobs(3000, dim, 3);
  const head = new LinearHead({ inputDim: dim, nClasses: 3, seed: 2 });
  fitHead({ head, train, epochs: 20, batchSize: 64, optimizer: 'sgd', momentum: 0.9, nesterov: true, lr: 0.05, schedule: 'cosine', seed: 2 });
  const acc = evaluateHead(head, test).accuracy;
  const bayes = bayesAccuracy(test);
  // The Bayes rule is linear here, so a well-fitted head differs from it only on points near the boundaries.
  assert.ok(bayes > 0.75 && bayes < 0.95, `Bayes accuracy ${bayes} should leave room for errors`);
  assert.ok(Math.abs(acc - bayes) < 0.02, `head ${acc} vs Bayes ${bayes}`);
});

test('an MLP head solves XOR, which a linear head cannot', () => {
  const train = xor(600, 4);
  const val = xor(600, 5);
  const mlp = new MlpHead({ inputDim: 2, hidden: [32], nClasses: 2, dropout: 0.1, seed: 4 });
  fitHead({ head: mlp, train, val, epochs: 60, batchSize: 32, optimizer: 'adamw', lr: 0.02, schedule: 'onecycle', seed: 4 });
  const linear = new LinearHead({ inputDim: 2, nClasses: 2, seed: 4 });
  fitHead({ head: linear, train, epochs: 30, batchSize: 32, optimizer: 'adam', lr: 0.02, seed: 4 });
  const mlpAcc = evaluateHead(mlp, val).accuracy;
  const linearAcc = evaluateHead(linear, val).accuracy;
  assert.ok(mlpAcc > 0.95, `MLP val accuracy ${mlpAcc}`);
  assert.ok(linearAcc < 0.8, `linear val accuracy ${linearAcc}`);
});

test('same seed ⇒ identical history and weights; another seed ⇒ different', () => {
  const train = blobs(300, 8, 6);
  const val = blobs(100, 8, 7);
  const run = (seed: number) => {
    const head = new MlpHead({ inputDim: 8, hidden: [16], nClasses: 3, dropout: 0.3, seed: 1 });
    const result = fitHead({
      head, train, val, epochs: 6, batchSize: 20, optimizer: 'adamw', lr: 0.01, weightDecay: 0.01,
      schedule: 'onecycle', labelSmoothing: 0.1, classWeights: 'balanced', clipNorm: 1, seed,
    });
    return { history: withoutTime(result.history), params: head.parameters().map((p) => Array.from(p.data)) };
  };
  const a = run(42);
  const b = run(42);
  assert.deepEqual(b.history, a.history); // wall-clock seconds are the only field allowed to differ
  assert.deepEqual(b.params, a.params);
  assert.notDeepEqual(run(43).history, a.history);
});

test('early stopping stops after `patience` epochs without improvement and restores the best epoch', () => {
  // 60 noisy samples in 40 dimensions: the head starts memorising them and the val loss turns up after a few epochs.
  const rng = new Rng(8);
  const noisy = (n: number): FeatureSet => {
    const x = Float32Array.from({ length: n * 40 }, () => rng.normal());
    const y = Int32Array.from({ length: n }, (_, i) => (x[i * 40] + rng.normal() > 0 ? 1 : 0));
    return { x, y, n, dim: 40 };
  };
  const train = noisy(60);
  const val = noisy(200);
  const patience = 3;
  const options = { train, val, batchSize: 10, optimizer: 'adam' as const, lr: 0.003, seed: 8 };
  const head = new LinearHead({ inputDim: 40, nClasses: 2, seed: 8 });
  const result = fitHead({ ...options, head, epochs: 200, earlyStopping: { patience, minDelta: 0 } });
  const { history, bestEpoch } = result;
  assert.ok(result.stoppedEarly, 'this setup must overfit');
  assert.ok(bestEpoch > 1, 'the val loss must improve for a while first');
  assert.equal(history.length, bestEpoch + patience);
  const losses = history.map((r) => r.valLoss!);
  assert.equal(Math.min(...losses), history[bestEpoch - 1].valLoss);
  // The restored weights give exactly the best row's val loss...
  assert.equal(evaluateHead(head, val).loss, history[bestEpoch - 1].valLoss);
  // ...and are the weights a run of exactly bestEpoch epochs ends with (same seed, same shuffles).
  const short = new LinearHead({ inputDim: 40, nClasses: 2, seed: 8 });
  fitHead({ ...options, head: short, epochs: bestEpoch });
  short.parameters().forEach((p, i) => assert.deepEqual(p.data, head.parameters()[i].data));
});

test('schedules, gradient clipping, callbacks and progress are wired into the loop', () => {
  const train = blobs(200, 4, 9);
  const rows: EpochRow[] = [];
  const updates: number[] = [];
  let finished = false;
  const progress: ProgressSink = {
    start: (_label, total) => {
      assert.equal(total, 5);
      return { update: (done) => updates.push(done), increment() {}, finish: () => (finished = true) };
    },
  };
  const head = new LinearHead({ inputDim: 4, nClasses: 3, seed: 9 });
  const before = head.parameters().map((p) => Float32Array.from(p.data));
  const lr = 0.1;
  const clipNorm = 1e-3;
  const { history } = fitHead({
    head, train, epochs: 5, batchSize: 50, optimizer: 'sgd', lr, clipNorm, schedule: 'exp:0.5', seed: 9,
    onEpoch: (row) => rows.push(row), progress,
  });
  assert.deepEqual(rows, history);
  assert.deepEqual(updates, [1, 2, 3, 4, 5]);
  assert.ok(finished);
  history.forEach((row, e) => assert.equal(row.lr, lr * 0.5 ** e));
  // Plain SGD with clipped gradients moves the parameters by at most Σ lr_t·clipNorm (global L2 norm).
  const steps = 4 * [1, 0.5, 0.25, 0.125, 0.0625].reduce((s, f) => s + f, 0);
  let moved = 0;
  head.parameters().forEach((p, i) => p.data.forEach((v, j) => (moved += (v - before[i][j]) ** 2)));
  assert.ok(Math.sqrt(moved) <= lr * clipNorm * steps * (1 + 1e-6), `moved ${Math.sqrt(moved)}`);
  assert.ok(Math.sqrt(moved) > 0.5 * lr * clipNorm * steps, 'clipped steps still move the weights');
  const onecycle = fitHead({ head: new LinearHead({ inputDim: 4, nClasses: 3 }), train, epochs: 4, batchSize: 50, optimizer: 'adam', lr, schedule: 'onecycle', seed: 1 });
  assert.ok(Math.abs(onecycle.history.at(-1)!.lr - lr / 25 / 1e4) < 1e-18);
});

test('formatEpochRow prints aligned columns', () => {
  const row: EpochRow = { epoch: 1, trainLoss: 0.1234, trainAcc: 0.965, valLoss: 0.0567, valAcc: 0.981, lr: 1e-3, seconds: 0.25 };
  assert.equal(formatEpochRow(row, 30), 'Epoch  1  train acc 0.9650  val acc 0.9810  train loss  0.1234  val loss  0.0567  lr 1.0e-3   0.25 s');
  const later = formatEpochRow({ ...row, epoch: 12, trainLoss: 12.5, valLoss: 10 }, 30);
  assert.equal(later.length, formatEpochRow(row, 30).length);
  assert.ok(!formatEpochRow({ epoch: 1, trainLoss: 1, trainAcc: 0.5, lr: 0.1, seconds: 0 }).includes('val'));
});

test('bad inputs are GraftErrors naming what is wrong', () => {
  const train = blobs(20, 4, 10);
  const head = new LinearHead({ inputDim: 4, nClasses: 3 });
  const base = { head, train, epochs: 1, batchSize: 8, optimizer: 'sgd' as const, lr: 0.1, seed: 0 };
  assert.throws(() => fitHead({ ...base, head: new LinearHead({ inputDim: 5, nClasses: 3 }) }), /head expects 5/);
  assert.throws(() => fitHead({ ...base, head: new LinearHead({ inputDim: 4, nClasses: 2 }) }), (e: unknown) => e instanceof GraftError && /labels\[\d+\] = 2/.test(e.message));
  assert.throws(() => fitHead({ ...base, earlyStopping: { patience: 2 } }), /early stopping needs a validation set/);
  assert.throws(() => fitHead({ ...base, schedule: 'bogus' }), /unknown schedule/);
  const nan = Float32Array.from(train.x);
  nan[9] = NaN;
  assert.throws(() => fitHead({ ...base, train: { ...train, x: nan } }), /training data: feature \[2, 1\] is NaN/);
  // Huge features and learning rate overflow the float32 weights after one step.
  const huge = { ...train, x: train.x.map((v) => v * 1e10) };
  assert.throws(() => fitHead({ ...base, train: huge, lr: 1e38, epochs: 3 }), /training diverged at epoch 1/);
});
