import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Adam, AdamW, clipGradNorm, createOptimizer, SGD, type Optimizer } from '../../src/optim/optim.js';
import { GraftError } from '../../src/util/errors.js';

const p0 = [0.5, -1.25, 2, 0.03];
const g1 = [0.1, -0.4, 1.5, -0.002];
const g2 = [-0.3, 0.2, 0.7, 0.01];
const g3 = [0.05, -0.1, -2, 0.004];
const lrs = [0.1, 0.05, 0.02];
const f = Math.fround;

/** Runs three steps of `opt` on one float32 parameter vector with gradients g1, g2, g3 and learning rates lrs. */
function run(opt: Optimizer): Float32Array[] {
  const p = Float32Array.from(p0);
  const out: Float32Array[] = [];
  [g1, g2, g3].forEach((g, t) => {
    opt.step([p], [Float64Array.from(g)], lrs[t]);
    out.push(Float32Array.from(p));
  });
  return out;
}

function close(actual: Float32Array, expected: number[], what: string): void {
  // Parameters are stored as float32: allow a couple of float32 ulps.
  expected.forEach((e, j) => assert.ok(Math.abs(actual[j] - e) <= 3e-7 * Math.max(1, Math.abs(e)), `${what}[${j}]: ${actual[j]} vs ${e}`));
}

test('SGD with momentum and weight decay follows torch.optim.SGD for three steps', () => {
  const [mu, wd] = [0.9, 0.01];
  const steps = run(new SGD({ momentum: mu, weightDecay: wd }));
  p0.forEach((p, j) => {
    // step 1: d = g + wd·p; the momentum buffer starts as d
    const d1 = g1[j] + wd * p;
    const b1 = d1;
    const p1 = f(p - lrs[0] * b1);
    // step 2: b = μ·b + d
    const b2 = mu * b1 + (g2[j] + wd * p1);
    const p2 = f(p1 - lrs[1] * b2);
    const b3 = mu * b2 + (g3[j] + wd * p2);
    const p3 = f(p2 - lrs[2] * b3);
    close(steps[0].subarray(j, j + 1), [p1], 'step 1');
    close(steps[1].subarray(j, j + 1), [p2], 'step 2');
    close(steps[2].subarray(j, j + 1), [p3], 'step 3');
  });
});

test('SGD Nesterov steps along d + μ·b; dampening scales later gradients', () => {
  const mu = 0.8;
  const nesterov = run(new SGD({ momentum: mu, nesterov: true }));
  const damped = run(new SGD({ momentum: mu, dampening: 0.5 }));
  p0.forEach((p, j) => {
    const b1 = g1[j];
    const p1 = f(p - lrs[0] * (g1[j] + mu * b1));
    const b2 = mu * b1 + g2[j];
    const p2 = f(p1 - lrs[1] * (g2[j] + mu * b2));
    close(nesterov[1].subarray(j, j + 1), [p2], 'nesterov step 2');
    // dampening τ: b₁ = g₁ (no dampening on the first step), b₂ = μ·b₁ + (1 − τ)·g₂
    const q1 = f(p - lrs[0] * g1[j]);
    const q2 = f(q1 - lrs[1] * (mu * g1[j] + 0.5 * g2[j]));
    close(damped[1].subarray(j, j + 1), [q2], 'dampened step 2');
  });
  const plain = run(new SGD());
  close(plain[0], p0.map((p, j) => f(p - lrs[0] * g1[j])), 'plain SGD');
});

test('Adam: first step moves each weight by ≈ lr against the gradient sign, then follows the bias-corrected moments', () => {
  const [b1, b2, eps, wd] = [0.9, 0.999, 1e-8, 0.05];
  const steps = run(new Adam({ weightDecay: wd }));
  p0.forEach((p, j) => {
    // L2 decay is part of the gradient. Step 1: m̂ = g, v̂ = g², so Δ = −lr·g / (|g| + ε).
    const ga = g1[j] + wd * p;
    const p1 = f(p - (lrs[0] * ga) / (Math.abs(ga) + eps));
    const gb = g2[j] + wd * p1;
    const m2 = b1 * (1 - b1) * ga + (1 - b1) * gb;
    const v2 = b2 * (1 - b2) * ga * ga + (1 - b2) * gb * gb;
    const p2 = f(p1 - (lrs[1] * (m2 / (1 - b1 ** 2))) / (Math.sqrt(v2 / (1 - b2 ** 2)) + eps));
    const gc = g3[j] + wd * p2;
    const m3 = b1 * m2 + (1 - b1) * gc;
    const v3 = b2 * v2 + (1 - b2) * gc * gc;
    const p3 = f(p2 - (lrs[2] * (m3 / (1 - b1 ** 3))) / (Math.sqrt(v3 / (1 - b2 ** 3)) + eps));
    close(steps[0].subarray(j, j + 1), [p1], 'step 1');
    close(steps[1].subarray(j, j + 1), [p2], 'step 2');
    close(steps[2].subarray(j, j + 1), [p3], 'step 3');
  });
});

test('AdamW decays the weights (p·(1 − lr·wd)) outside the adaptive step', () => {
  const [b1, b2, eps, wd] = [0.9, 0.999, 1e-8, 0.1];
  const steps = run(new AdamW({ weightDecay: wd }));
  p0.forEach((p, j) => {
    const p1 = f(p * (1 - lrs[0] * wd) - (lrs[0] * g1[j]) / (Math.abs(g1[j]) + eps));
    const m2 = b1 * (1 - b1) * g1[j] + (1 - b1) * g2[j];
    const v2 = b2 * (1 - b2) * g1[j] ** 2 + (1 - b2) * g2[j] ** 2;
    const p2 = f(p1 * (1 - lrs[1] * wd) - (lrs[1] * (m2 / (1 - b1 ** 2))) / (Math.sqrt(v2 / (1 - b2 ** 2)) + eps));
    close(steps[0].subarray(j, j + 1), [p1], 'step 1');
    close(steps[1].subarray(j, j + 1), [p2], 'step 2');
  });
  // PyTorch's AdamW default weight decay is 0.01.
  const dflt = run(new AdamW());
  close(dflt[0], p0.map((p, j) => f(p * (1 - lrs[0] * 0.01) - (lrs[0] * g1[j]) / (Math.abs(g1[j]) + 1e-8))), 'default wd');
});

test('state()/loadState() through JSON resumes every optimiser exactly', () => {
  const grads = [g1, g2, g3, g2, g1].map((g) => Float64Array.from(g));
  for (const make of [() => new SGD({ momentum: 0.9, nesterov: true, weightDecay: 1e-3 }), () => new Adam(), () => new AdamW()]) {
    const straight = Float32Array.from(p0);
    const a = make();
    grads.forEach((g, t) => a.step([straight], [g], 0.01 * (t + 1)));

    const resumed = Float32Array.from(p0);
    const b = make();
    grads.slice(0, 2).forEach((g, t) => b.step([resumed], [g], 0.01 * (t + 1)));
    const c = make();
    c.loadState(JSON.parse(JSON.stringify(b.state())));
    grads.slice(2).forEach((g, t) => c.step([resumed], [g], 0.01 * (t + 3)));
    assert.deepEqual(resumed, straight, a.kind);
  }
  assert.throws(() => new Adam().loadState(new SGD().state()), (e: unknown) => e instanceof GraftError && e.code === 'CHECKPOINT');
});

test('createOptimizer builds by name and rejects unknown names', () => {
  assert.ok(createOptimizer('sgd') instanceof SGD);
  assert.ok(createOptimizer('adam') instanceof Adam);
  assert.ok(createOptimizer('adamw') instanceof AdamW);
  assert.throws(() => createOptimizer('rmsprop' as 'sgd'), GraftError);
  assert.throws(() => new SGD({ nesterov: true }), /Nesterov/);
});

test('clipGradNorm scales all gradients by maxNorm / norm and returns the norm before clipping', () => {
  const a = Float64Array.from([3, 4]);
  const b = Float64Array.from([12]);
  // ‖(3, 4, 12)‖ = 13
  assert.equal(clipGradNorm([a, b], 100), 13);
  assert.deepEqual([...a, ...b], [3, 4, 12]);
  assert.equal(clipGradNorm([a, b], 6.5), 13);
  const after = Math.hypot(...a, ...b);
  assert.ok(Math.abs(after - 6.5) < 1e-6, `norm after clipping ${after}`);
  assert.ok(Math.abs(a[0] / a[1] - 0.75) < 1e-12, 'direction is kept');
});
