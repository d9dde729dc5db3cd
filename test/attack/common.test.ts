/** Pixel-unit conversion, exact projections and 8-bit quantisation, against hand-derived values and brute force. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PREPROCESS_TF, PREPROCESS_TORCH, type Preprocess } from '../../src/image/preprocess.js';
import { toTensor } from '../../src/image/layout.js';
import {
  channelAt, classSetsFor, cropToPixels, fgsmStep, l2Distance, linfDistance, parseClassMap, pixelsToCrop, pixelsToTensor, projectL2, projectLinf,
  psnr, quantise, setLoss, tensorDeltaToPixels, tensorGradToPixels,
} from '../../src/attack/index.js';
import { Rng } from '../../src/util/rng.js';
import type { GraftModel } from '../../src/models/load.js';

const small = (pre: Preprocess, size = 4): Preprocess => ({ ...pre, size: [size, size] });
const rng = new Rng(5);

function randomCrop(size: number) {
  return { data: Uint8Array.from({ length: size * size * 3 }, () => rng.int(256)), width: size, height: size };
}

test('pixels ↔ tensor: same tensor as image/toTensor (NCHW, NHWC, BGR) and an exact round trip to the crop', () => {
  for (const pre of [small(PREPROCESS_TORCH), small(PREPROCESS_TF), { ...small(PREPROCESS_TORCH), channelOrder: 'bgr' as const }]) {
    const crop = randomCrop(4);
    const px = cropToPixels(crop, pre);
    assert.deepEqual(pixelsToTensor(px, pre), toTensor(crop, pre));
    assert.deepEqual(pixelsToCrop(px, pre).data, crop.data);
  }
});

test('pixel units: Δtensor = Δpixel / (255·std[c]) per channel, and the gradient chain rule', () => {
  const pre = small(PREPROCESS_TORCH, 2);
  const base = cropToPixels(randomCrop(2), pre);
  for (let i = 0; i < base.length; i++) {
    const c = channelAt(i, pre);
    assert.equal(c, Math.floor(i / 4), 'NCHW: channel is the plane index');
    const moved = Float64Array.from(base);
    moved[i] += 10;
    const dt = pixelsToTensor(moved, pre)[i] - pixelsToTensor(base, pre)[i];
    assert.ok(Math.abs(dt - 10 / (255 * [0.229, 0.224, 0.225][c])) < 1e-5, `element ${i}: Δt ${dt}`);
  }
  const dTensor = Float32Array.from({ length: 12 }, (_, i) => i - 6);
  const dPixels = tensorDeltaToPixels(dTensor, pre);
  dPixels.forEach((v, i) => assert.ok(Math.abs(v - (i - 6) * 255 * pre.std[channelAt(i, pre)]) < 1e-9));
  // The loss L(t) = Σ w·t seen as a function of pixels has ∂L/∂p = w / (255·std[c]).
  const w = Float32Array.from({ length: 12 }, () => rng.normal());
  const gp = tensorGradToPixels(w, pre);
  const L = (p: Float64Array) => pixelsToTensor(p, pre).reduce((s, t, i) => s + t * w[i], 0);
  for (let i = 0; i < 12; i++) {
    const plus = Float64Array.from(base);
    plus[i] += 1;
    assert.ok(Math.abs(L(plus) - L(base) - gp[i]) < 1e-4, `chain rule at ${i}`);
  }
});

test('L∞ projection in pixel units is exact, with per-channel std, and respects [0, 255]', () => {
  const pre = small(PREPROCESS_TORCH, 2);
  const x0 = new Float64Array(12).fill(100);
  x0[0] = 3; // near 0: the pixel range binds before the ball
  // A tensor-space step of +0.5 in every element is 0.5·255·std[c] ≈ 29 pixels: beyond ε = 8.
  const step = tensorDeltaToPixels(new Float32Array(12).fill(0.5), pre);
  const x = x0.map((v, i) => v + (i % 2 ? step[i] : -step[i]));
  projectLinf(x, x0, 8);
  const t0 = pixelsToTensor(x0, pre);
  const t = pixelsToTensor(x, pre);
  for (let i = 0; i < 12; i++) {
    const expectedPixel = i === 0 ? 0 : i % 2 ? 108 : 92;
    assert.equal(x[i], expectedPixel);
    const c = channelAt(i, pre);
    assert.ok(Math.abs(t[i] - t0[i] - (expectedPixel - x0[i]) / (255 * pre.std[c])) < 1e-5);
  }
  const inside = x0.map((v) => v + 1.5);
  assert.deepEqual(projectLinf(Float64Array.from(inside), x0, 8), inside, 'feasible points do not move');
});

test('L2 projection: radial scaling when the box is inactive, brute-force optimal when it binds', () => {
  const x0 = Float64Array.from([100, 120, 140, 160]);
  const d = [30, -40, 0, 0];
  const x = x0.map((v, i) => v + d[i]);
  projectL2(x, x0, 10);
  // ‖d‖ = 50 → δ = d·10/50.
  assert.deepEqual(Array.from(x, (v) => Math.round(v * 1e9) / 1e9), [106, 112, 140, 160]);

  // Near the pixel range the ball and the box both bind; compare with a dense search over the feasible set.
  const a0 = Float64Array.from([2, 250]);
  const target = Float64Array.from([-30, 290]);
  const p = projectL2(Float64Array.from(target), a0, 20);
  assert.ok(l2Distance(p, a0) <= 20 + 1e-12 && p.every((v) => v >= 0 && v <= 255), 'feasible');
  let best = Infinity;
  for (let u = 0; u <= 2; u += 0.001) {
    for (let v = 250; v <= 255; v += 0.001) {
      if ((u - 2) ** 2 + (v - 250) ** 2 <= 400) best = Math.min(best, l2Distance([u, v], target));
    }
  }
  assert.ok(l2Distance(p, target) <= best + 1e-6, `projection distance ${l2Distance(p, target)} vs brute force ${best}`);

  // A random high-dimensional case: feasible, and no random feasible point is closer.
  const n = 300;
  const b0 = Float64Array.from({ length: n }, () => rng.int(256));
  const y = b0.map((v) => v + rng.normal() * 40);
  const q = projectL2(Float64Array.from(y), b0, 100);
  assert.ok(l2Distance(q, b0) <= 100 + 1e-9 && q.every((v) => v >= 0 && v <= 255));
  const dq = l2Distance(q, y);
  for (let k = 0; k < 200; k++) {
    const z = q.map((v) => v + rng.normal() * 0.5);
    projectL2(z, b0, 100);
    assert.ok(l2Distance(z, y) >= dq - 1e-9);
  }
});

test('quantisation: integers inside the ball and [0, 255] for L∞ (fractional ε) and L2', () => {
  const x0 = Float64Array.from({ length: 500 }, () => rng.int(256));
  const linf = projectLinf(x0.map((v) => v + rng.uniform(-10, 10)), x0, 2.5);
  const ql = quantise(linf, x0, 'linf', 2.5);
  assert.ok(ql.every((v) => Number.isInteger(v) && v >= 0 && v <= 255));
  assert.ok(linfDistance(ql, x0) <= 2);
  const l2 = projectL2(x0.map((v) => v + rng.normal() * 3), x0, 30);
  assert.ok(l2Distance(l2, x0) > 29.99, 'the projection is on the sphere');
  const q2 = quantise(l2, x0, 'l2', 30);
  assert.ok(q2.every((v) => Number.isInteger(v) && v >= 0 && v <= 255));
  assert.ok(l2Distance(q2, x0) <= 30, `‖δ‖ ${l2Distance(q2, x0)}`);
  assert.ok(l2Distance(q2, l2) < 0.75 * Math.sqrt(500), 'close to the continuous point');
});

test('FGSM step is x0 + ε·sign(g); metrics and set loss match hand values', () => {
  const x0 = Float64Array.from([10, 20, 30]);
  assert.deepEqual(Array.from(fgsmStep(x0, Float64Array.from([0.3, -2, 0]), 'linf', 8, 1)), [18, 12, 30]);
  assert.deepEqual(Array.from(fgsmStep(x0, Float64Array.from([0.3, -2, 0]), 'linf', 8, -1)), [2, 28, 30]);
  const l2step = fgsmStep(x0, Float64Array.from([3, 4, 0]), 'l2', 10, 1);
  assert.ok(l2Distance(l2step, [16, 28, 30]) < 1e-9);
  assert.equal(psnr([0, 0], [0, 0]), Infinity);
  assert.ok(Math.abs(psnr([0, 0], [255, 255])) < 1e-12);
  // −log softmax mass of {0, 1} over logits [0, 0, ln 2]: 1 − (1+1)/(1+1+2) = 1/2 → ln 2.
  assert.ok(Math.abs(setLoss([0, 0, Math.log(2)], [0, 1]) - Math.log(2)) < 1e-12);
});

test('class maps parse ranges and lists', () => {
  const map = parseClassMap('cats=281-283; dogs=151,160-161');
  assert.deepEqual(map, { cats: [281, 282, 283], dogs: [151, 160, 161] });
  assert.throws(() => parseClassMap('cats'), /name=ranges/);
  assert.throws(() => parseClassMap('cats=5-2'), /empty/);
});

test('class sets: label match for a graft-trained classifier, the ImageNet map otherwise', () => {
  const model = (labels: string[]) => ({ id: 'm', labels }) as unknown as GraftModel;
  assert.deepEqual(classSetsFor(model(['dogs', 'cats']), ['cats', 'dogs']), { mode: 'labels', sets: [[1], [0]] });
  const imagenet = model(Array.from({ length: 1000 }, (_, i) => `class ${i}`));
  const mapped = classSetsFor(imagenet, ['Cat', 'Dog']);
  assert.equal(mapped.mode, 'map');
  assert.deepEqual(mapped.sets[0], [281, 282, 283, 284, 285]);
  assert.equal(mapped.sets[1].length, 268 - 151 + 1);
  assert.deepEqual(classSetsFor(imagenet, ['birds'], parseClassMap('birds=7-9')).sets, [[7, 8, 9]]);
  assert.throws(() => classSetsFor(imagenet, ['birds']), /class map/);
});
