import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/onnx/graph.js';
import { emptyGraph, newModel } from '../../src/onnx/types.js';
import { Session, asFloat32, float32 } from '../../src/runtime/session.js';
import { Rng } from '../../src/util/rng.js';
import { Layers, initWeights, makeDivisible } from '../../src/models/builders/layers.js';
import { assertNormal, assertUniform } from './fixtures.js';

/** A graph with one input `x` of `shape`, built by `body`, run on `data`. */
async function runLayer(shape: number[], data: Float32Array, body: (L: Layers, x: string) => string): Promise<{ out: Float32Array; dims: readonly number[]; layers: Layers }> {
  const g = new GraphBuilder(emptyGraph('layer_test'));
  const x = g.input('x', 'float32', shape);
  const layers = new Layers(g, new Rng(7));
  const y = body(layers, x);
  g.output(y);
  const session = await Session.create(newModel(g.graph));
  try {
    const result = (await session.run({ x: float32(data, shape) }))[y];
    return { out: asFloat32(result), dims: result.dims, layers };
  } finally {
    await session.release();
  }
}

function ramp(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.cos(i * 1.37) * 3);
}

function assertClose(actual: Float32Array, expected: ArrayLike<number>, tol = 1e-4): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) assert.ok(Math.abs(actual[i] - expected[i]) <= tol * (1 + Math.abs(expected[i])), `element ${i}: ${actual[i]} vs ${expected[i]}`);
}

test('makeDivisible follows torchvision _make_divisible (hand-computed)', () => {
  assert.equal(makeDivisible(32), 32);
  assert.equal(makeDivisible(32 * 0.5), 16);
  assert.equal(makeDivisible(16 * 0.35), 8); // max(8, ⌊9.6/8⌋·8) = 8
  assert.equal(makeDivisible(32 * 0.35), 16); // ⌊15.2/8⌋·8 = 8 < 0.9·11.2, so + 8
  assert.equal(makeDivisible(24 * 0.75), 24); // 16 < 0.9·18 = 16.2, so + 8
  assert.equal(makeDivisible(1280 * 1.4), 1792);
  assert.equal(makeDivisible(96 * 1.3), 128); // ⌊128.8/8⌋·8 = 128 ≥ 112.32
});

test('conv: weight layout [out, in/groups, k, k], stride, padding, dilation and bias match a naive convolution', async () => {
  const [n, cin, h, w] = [2, 4, 9, 8];
  const o = { name: 'c', inChannels: cin, outChannels: 6, kernel: 3, stride: 2, padding: 2, groups: 2, dilation: 2, bias: true, init: { kind: 'torchDefault' } as const };
  const x = ramp(n * cin * h * w);
  const { out, dims, layers } = await runLayer([n, cin, h, w], x, (L, t) => L.conv(t, o));
  const wt = layers.g.graph.initializers.get('c.weight')!;
  const bias = layers.g.graph.initializers.get('c.bias')!.data as Float32Array;
  assert.deepEqual(wt.dims, [6, 2, 3, 3]);
  const W = wt.data as Float32Array;
  const oh = Math.floor((h + 4 - 2 * 2 - 1) / 2) + 1;
  const ow = Math.floor((w + 4 - 2 * 2 - 1) / 2) + 1;
  assert.deepEqual([...dims], [n, 6, oh, ow]);
  const expected: number[] = [];
  for (let b = 0; b < n; b++) for (let co = 0; co < 6; co++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
    let acc = bias[co];
    const group = Math.floor(co / 3);
    for (let ci = 0; ci < 2; ci++) for (let ki = 0; ki < 3; ki++) for (let kj = 0; kj < 3; kj++) {
      const y = i * 2 - 2 + ki * 2;
      const z = j * 2 - 2 + kj * 2;
      if (y < 0 || y >= h || z < 0 || z >= w) continue;
      acc += W[((co * 2 + ci) * 3 + ki) * 3 + kj] * x[((b * cin + group * 2 + ci) * h + y) * w + z];
    }
    expected.push(acc);
  }
  assertClose(out, expected);
});

test('linear is x·Wᵀ + b with W [out, in]; batchNorm at init is x/√(1+ε); relu6 clips to [0, 6]; silu is x·σ(x)', async () => {
  const x = ramp(3 * 5);
  const lin = await runLayer([3, 5], x, (L, t) => L.linear(t, { name: 'fc', inFeatures: 5, outFeatures: 4, init: { kind: 'torchDefault' } }));
  const W = lin.layers.g.graph.initializers.get('fc.weight')!;
  const b = lin.layers.g.graph.initializers.get('fc.bias')!.data as Float32Array;
  assert.deepEqual(W.dims, [4, 5]);
  const expected: number[] = [];
  for (let r = 0; r < 3; r++) for (let o = 0; o < 4; o++) {
    let acc = b[o];
    for (let i = 0; i < 5; i++) acc += (W.data as Float32Array)[o * 5 + i] * x[r * 5 + i];
    expected.push(acc);
  }
  assertClose(lin.out, expected);

  const img = ramp(2 * 3 * 4 * 4);
  const bn = await runLayer([2, 3, 4, 4], img, (L, t) => L.batchNorm(t, 'bn', 3));
  assertClose(bn.out, Array.from(img, (v) => v / Math.sqrt(1 + 1e-5)));
  assert.deepEqual([...bn.layers.g.graph.initializers.keys()], ['bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var']);

  const big = img.map((v) => v * 3);
  const r6 = await runLayer([2, 3, 4, 4], big, (L, t) => L.relu6(t, 'r6'));
  assertClose(r6.out, Array.from(big, (v) => Math.min(6, Math.max(0, v))));
  assert.equal(r6.layers.g.graph.initializers.size, 0, 'Clip bounds must not be initializers (they would count as parameters)');

  const si = await runLayer([2, 3, 4, 4], img, (L, t) => L.silu(t, 'act'));
  assertClose(si.out, Array.from(img, (v) => v / (1 + Math.exp(-v))));
});

test('squeezeExcitation scales each channel by σ(fc2(silu(fc1(mean))))', async () => {
  const [n, c, s, h] = [2, 4, 2, 3];
  const x = ramp(n * c * h * h);
  const se = await runLayer([n, c, h, h], x, (L, t) => L.squeezeExcitation(t, 'se', c, s, 'silu'));
  const init = se.layers.g.graph.initializers;
  assert.deepEqual([...init.keys()], ['se.fc1.weight', 'se.fc1.bias', 'se.fc2.weight', 'se.fc2.bias']);
  const [w1, b1, w2, b2] = [...init.values()].map((t) => t.data as Float32Array);
  const expected: number[] = [];
  for (let b = 0; b < n; b++) {
    const mean = Array.from({ length: c }, (_, ch) => x.slice((b * c + ch) * h * h, (b * c + ch + 1) * h * h).reduce((a, v) => a + v, 0) / (h * h));
    const hidden = Array.from({ length: s }, (_, k) => {
      const z = b1[k] + mean.reduce((a, m, ch) => a + w1[k * c + ch] * m, 0);
      return z / (1 + Math.exp(-z));
    });
    for (let ch = 0; ch < c; ch++) {
      const z = b2[ch] + hidden.reduce((a, v, k) => a + w2[ch * s + k] * v, 0);
      const scale = 1 / (1 + Math.exp(-z));
      for (let p = 0; p < h * h; p++) expected.push(scale * x[(b * c + ch) * h * h + p]);
    }
  }
  assertClose(se.out, expected);
});

/** PyTorch's adaptive_avg_pool2d, written from its definition: bin i covers [⌊i·in/out⌋, ⌈(i+1)·in/out⌉). */
function adaptiveAvgPoolReference(x: Float32Array, planes: number, size: number, out: number): number[] {
  const res: number[] = [];
  for (let p = 0; p < planes; p++) for (let i = 0; i < out; i++) for (let j = 0; j < out; j++) {
    const [r0, r1] = [Math.floor((i * size) / out), Math.ceil(((i + 1) * size) / out)];
    const [c0, c1] = [Math.floor((j * size) / out), Math.ceil(((j + 1) * size) / out)];
    let acc = 0;
    for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) acc += x[(p * size + r) * size + c];
    res.push(acc / ((r1 - r0) * (c1 - c0)));
  }
  return res;
}

test('adaptiveAvgPool(7) matches PyTorch bins for inputs smaller than, equal to, multiples of and not multiples of 7', async () => {
  for (const size of [2, 5, 7, 10, 14]) {
    const x = ramp(2 * 3 * size * size);
    const { out, dims, layers } = await runLayer([2, 3, size, size], x, (L, t) => L.adaptiveAvgPool(t, 'avgpool', size, 7));
    assert.deepEqual([...dims], [2, 3, 7, 7]);
    assertClose(out, adaptiveAvgPoolReference(x, 6, size, 7));
    assert.equal(layers.g.graph.initializers.size, 0, 'pooling matrices must not be initializers');
  }
});

test('initWeights draws Kaiming-normal (fan_out), N(0, σ²), U(±b) and PyTorch-default U(±1/√fan_in)', () => {
  const rng = new Rng(3);
  const dims = [64, 32, 3, 3];
  assertNormal({ name: 'kaiming', dtype: 'float32', dims, data: initWeights(rng, dims, { kind: 'kaimingNormalFanOut' }) }, Math.sqrt(2 / (64 * 9)));
  // Depthwise [C, 1, k, k]: torch's fan_out is C·k·k regardless of groups.
  const dw = [96, 1, 5, 5];
  assertNormal({ name: 'depthwise', dtype: 'float32', dims: dw, data: initWeights(rng, dw, { kind: 'kaimingNormalFanOut' }) }, Math.sqrt(2 / (96 * 25)));
  assertNormal({ name: 'normal', dtype: 'float32', dims: [500, 40], data: initWeights(rng, [500, 40], { kind: 'normal', std: 0.01 }) }, 0.01);
  assertUniform({ name: 'uniform', dtype: 'float32', dims: [300, 50], data: initWeights(rng, [300, 50], { kind: 'uniform', bound: 0.2 }) }, 0.2);
  assertUniform({ name: 'default', dtype: 'float32', dims, data: initWeights(rng, dims, { kind: 'torchDefault' }) }, 1 / Math.sqrt(32 * 9));
});

test('the same seed gives identical weights and a different seed different ones', () => {
  const dims = [16, 8, 3, 3];
  const a = initWeights(new Rng(11), dims, { kind: 'kaimingNormalFanOut' });
  assert.deepEqual(a, initWeights(new Rng(11), dims, { kind: 'kaimingNormalFanOut' }));
  assert.notDeepEqual(a, initWeights(new Rng(12), dims, { kind: 'kaimingNormalFanOut' }));
});

test('a layer name used twice is an error naming the layer', async () => {
  await assert.rejects(
    runLayer([1, 3, 4, 4], ramp(48), (L, t) => L.relu(L.relu(t, 'act'), 'act')),
    (err: Error) => err.name === 'GraftError' && /"act" is used twice/.test(err.message),
  );
});
