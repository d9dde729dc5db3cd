import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  computeStandardisation,
  foldStandardisation,
  headFromJSON,
  LinearHead,
  MlpHead,
  type DenseHead,
} from '../../src/train/heads.js';
import { softmaxCrossEntropy, type CrossEntropyOptions } from '../../src/train/loss.js';
import { GraftError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

function randomMatrix(n: number, d: number, seed: number, shift = 0): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * d }, () => rng.normal() + shift);
}

/**
 * Checks head.backward against central differences of the training loss for every parameter.
 * Parameters are float32 but the forward pass and loss run in float64, so the loss is a smooth float64 function
 * of the stored float32 values. The step is divided by the perturbation actually stored (after float32 rounding),
 * so the only errors are truncation (~h²·|f'''|/6 ≈ 2e-7 for h = 1e-3) and float64 rounding (~1e-16/h); 2e-6 covers both.
 */
function checkGradients(head: DenseHead, x: Float32Array, n: number, y: number[], opts: CrossEntropyOptions, maskSeed = 7): void {
  const lossAt = (): number => softmaxCrossEntropy(head.forwardTrain(x, n, new Rng(maskSeed)).logits, y, head.nClasses, opts).loss;
  const pass = head.forwardTrain(x, n, new Rng(maskSeed));
  const grads = head.backward(pass, softmaxCrossEntropy(pass.logits, y, head.nClasses, opts).grad);
  const params = head.parameters();
  assert.equal(grads.length, params.length);
  const h = 1e-3;
  params.forEach((p, pi) => {
    assert.equal(grads[pi].length, p.data.length, `${p.name} gradient size`);
    for (let j = 0; j < p.data.length; j++) {
      const original = p.data[j];
      p.data[j] = original + h;
      const up = p.data[j] - original;
      const fPlus = lossAt();
      p.data[j] = original - h;
      const down = original - p.data[j];
      const fMinus = lossAt();
      p.data[j] = original;
      const fd = (fPlus - fMinus) / (up + down);
      assert.ok(Math.abs(fd - grads[pi][j]) < 2e-6 + 1e-5 * Math.abs(fd), `${p.name}[${j}]: analytic ${grads[pi][j]} vs numeric ${fd}`);
    }
  });
}

const lossOpts = { labelSmoothing: 0.1, classWeights: [1, 2.5, 0.7] };

test('LinearHead gradients match finite differences', () => {
  const n = 6;
  const head = new LinearHead({ inputDim: 5, nClasses: 3, seed: 1 });
  checkGradients(head, randomMatrix(n, 5, 2), n, [0, 1, 2, 2, 1, 0], lossOpts);
});

test('LinearHead with explicit standardisation: gradients match finite differences', () => {
  const n = 6;
  const x = randomMatrix(n, 5, 3, 4);
  const head = new LinearHead({ inputDim: 5, nClasses: 3, seed: 1, standardisation: computeStandardisation(x, n, 5) });
  checkGradients(head, x, n, [0, 1, 2, 2, 1, 0], lossOpts);
});

test('MlpHead gradients match finite differences (two hidden layers, no dropout)', () => {
  const n = 7;
  const head = new MlpHead({ inputDim: 5, hidden: [8, 6], nClasses: 3, seed: 3 });
  checkGradients(head, randomMatrix(n, 5, 4), n, [0, 1, 2, 2, 1, 0, 1], lossOpts);
});

test('MlpHead gradients match finite differences with a fixed dropout mask', () => {
  const n = 7;
  const head = new MlpHead({ inputDim: 5, hidden: [8, 6], nClasses: 3, dropout: 0.3, seed: 5 });
  const pass = head.forwardTrain(randomMatrix(n, 5, 6), n, new Rng(7));
  const dropped = pass.dropoutMasks.reduce((s, m) => s + m!.filter((v) => v === 0).length, 0);
  assert.ok(dropped > 0, 'the mask must drop some units for this test to mean anything');
  checkGradients(head, randomMatrix(n, 5, 6), n, [0, 1, 2, 2, 1, 0, 1], lossOpts, 7);
});

test('dropout is inverted (kept units scaled by 1/(1−p)), drops about p, and is off in forward()', () => {
  const p = 0.4;
  const n = 50;
  const head = new MlpHead({ inputDim: 10, hidden: [200], nClasses: 4, dropout: p, seed: 9 });
  const x = randomMatrix(n, 10, 10);
  const mask = head.forwardTrain(x, n, new Rng(1)).dropoutMasks[0]!;
  const zeros = mask.filter((v) => v === 0).length;
  assert.ok(mask.every((v) => v === 0 || Math.abs(v - 1 / (1 - p)) < 1e-12));
  // 10 000 Bernoulli(0.4) draws: sd = √(n·p·(1−p)) ≈ 49, allow 5 sd.
  assert.ok(Math.abs(zeros - p * mask.length) < 250, `dropped ${zeros} of ${mask.length}`);
  // Eval mode equals a dropout-free head with the same weights.
  const noDrop = new MlpHead({ inputDim: 10, hidden: [200], nClasses: 4, dropout: 0, seed: 9 });
  assert.deepEqual(head.forward(x, n), noDrop.forward(x, n));
  const trainLogits = noDrop.forwardTrain(x, n, new Rng(1)).logits;
  assert.deepEqual(noDrop.forward(x, n), Float32Array.from(trainLogits));
});

test('initialisation follows nn.Linear: U(−1/√in, 1/√in) for weights and biases, seeded', () => {
  const head = new MlpHead({ inputDim: 768, hidden: [256], nClasses: 37, seed: 11 });
  for (const p of head.parameters()) {
    const bound = 1 / Math.sqrt(p.name.startsWith('fc0') ? 768 : 256);
    assert.ok(p.data.every((v) => Math.abs(v) <= bound), p.name);
    if (p.data.length > 1000) {
      const mean = p.data.reduce((s, v) => s + v, 0) / p.data.length;
      const variance = p.data.reduce((s, v) => s + v * v, 0) / p.data.length;
      // Uniform(−b, b): mean 0, variance b²/3.
      assert.ok(Math.abs(mean) < 0.02 * bound, `${p.name} mean ${mean}`);
      assert.ok(Math.abs(variance / (bound * bound / 3) - 1) < 0.02, `${p.name} variance ${variance}`);
    }
  }
  assert.deepEqual(head.parameters().map((p) => p.shape), [[256, 768], [256], [37, 256], [37]]);
  assert.deepEqual(head.parameters().map((p) => p.name), ['fc0.weight', 'fc0.bias', 'fc1.weight', 'fc1.bias']);
  const same = new MlpHead({ inputDim: 768, hidden: [256], nClasses: 37, seed: 11 });
  const other = new MlpHead({ inputDim: 768, hidden: [256], nClasses: 37, seed: 12 });
  assert.deepEqual(same.parameters()[0].data, head.parameters()[0].data);
  assert.notDeepEqual(other.parameters()[0].data, head.parameters()[0].data);
});

test('LinearHead forward is x·Wᵀ + b in the ONNX Gemm transB=1 layout', () => {
  const head = new LinearHead({ inputDim: 3, nClasses: 2, seed: 0 });
  const [w, b] = head.parameters().map((p) => p.data);
  const x = Float32Array.from([1, 2, 3, -1, 0.5, 0]);
  const out = head.forward(x, 2);
  for (let i = 0; i < 2; i++) {
    for (let o = 0; o < 2; o++) {
      let s = b[o];
      for (let k = 0; k < 3; k++) s += x[i * 3 + k] * w[o * 3 + k];
      assert.equal(out[i * 2 + o], Math.fround(s));
    }
  }
});

test('toJSON/fromJSON round-trips weights bit for bit (both kinds, with standardisation)', () => {
  const x = randomMatrix(20, 6, 13, 3);
  const heads: DenseHead[] = [
    new LinearHead({ inputDim: 6, nClasses: 4, seed: 1, standardisation: computeStandardisation(x, 20, 6) }),
    new MlpHead({ inputDim: 6, hidden: [5, 3], nClasses: 4, dropout: 0.2, seed: 2 }),
  ];
  for (const head of heads) {
    const restored = headFromJSON(JSON.parse(JSON.stringify(head.toJSON())));
    assert.equal(restored.constructor, head.constructor);
    assert.deepEqual(restored.config(), head.config());
    restored.parameters().forEach((p, i) => assert.deepEqual(p.data, head.parameters()[i].data));
    assert.deepEqual(restored.forward(x, 20), head.forward(x, 20));
  }
  assert.throws(() => LinearHead.fromJSON(heads[1].toJSON()), (e: unknown) => e instanceof GraftError && e.code === 'CHECKPOINT');
  assert.throws(() => MlpHead.fromJSON(heads[0].toJSON()), GraftError);
});

test('foldStandardisation gives a plain head with the same outputs', () => {
  const n = 30;
  const x = randomMatrix(n, 8, 14, 5);
  for (const head of [
    new LinearHead({ inputDim: 8, nClasses: 3, seed: 3, standardisation: computeStandardisation(x, n, 8) }),
    new MlpHead({ inputDim: 8, hidden: [6], nClasses: 3, seed: 4, standardisation: computeStandardisation(x, n, 8) }),
  ]) {
    const folded = foldStandardisation(head);
    assert.equal(folded.standardisation, undefined);
    const a = head.forward(x, n);
    const b = folded.forward(x, n);
    // Folding rounds W/std and the shifted bias to float32: relative error of a few ulps of the pre-activations.
    a.forEach((v, j) => assert.ok(Math.abs(v - b[j]) < 1e-5 * (1 + Math.abs(v)), `logit ${j}: ${v} vs ${b[j]}`));
  }
});

test('computeStandardisation gives zero mean, unit std, and std 1 for constant features', () => {
  const n = 40;
  const x = randomMatrix(n, 3, 15, 2);
  for (let i = 0; i < n; i++) x[i * 3 + 2] = 5;
  const s = computeStandardisation(x, n, 3);
  for (let k = 0; k < 2; k++) {
    let m = 0;
    let v = 0;
    for (let i = 0; i < n; i++) m += x[i * 3 + k] / n;
    for (let i = 0; i < n; i++) v += (x[i * 3 + k] - m) ** 2 / n;
    assert.ok(Math.abs(s.mean[k] - m) < 1e-6);
    assert.ok(Math.abs(s.std[k] - Math.sqrt(v)) < 1e-6);
  }
  assert.equal(s.mean[2], 5);
  assert.equal(s.std[2], 1);
});

test('shape errors name the head and the sizes', () => {
  const head = new LinearHead({ inputDim: 4, nClasses: 2 });
  assert.throws(() => head.forward(new Float32Array(7), 2), /linear head: input has 7 values, expected 2×4/);
  assert.throws(() => new MlpHead({ inputDim: 4, hidden: [0], nClasses: 2 }), /hidden\[0\]/);
  assert.throws(() => new MlpHead({ inputDim: 4, hidden: [3], nClasses: 2, dropout: 1 }), /dropout/);
});
