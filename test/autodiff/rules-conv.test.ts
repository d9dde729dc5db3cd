/** Gradient rules of convolutions, normalisation and pooling vs central finite differences. */
import { test } from 'node:test';
import type { GraphBuilder } from '../../src/onnx/graph.js';
import type { Attribute } from '../../src/onnx/types.js';
import { attr, floatTensor, tensorSize } from '../../src/onnx/types.js';
import { Rng } from '../../src/util/rng.js';
import type { Feed } from './fd.js';
import { checkGradients, distinctFeed, opGraph, randomFeed } from './fd.js';

const rng = new Rng(42);

function weight(b: GraphBuilder, name: string, dims: number[], scale = 0.5): string {
  return b.initializer(floatTensor(name, dims, Float32Array.from({ length: tensorSize(dims) }, () => rng.uniform(-scale, scale))));
}

/** One op on input x (plus initializers), gradients w.r.t. x and `params`. */
async function checkOp(x: Feed, build: (b: GraphBuilder) => string, params: string[] = []): Promise<void> {
  const { model, objective } = opGraph({ x: x.dims }, build);
  await checkGradients(model, { objective, wrt: ['x', ...params], feeds: { x } });
}

interface ConvCase {
  name: string;
  x: number[];
  w: number[];
  attrs: Record<string, Attribute>;
}

const convCases: ConvCase[] = [
  { name: 'groups=1, pads 1', x: [2, 3, 6, 6], w: [4, 3, 3, 3], attrs: { pads: attr.ints([1, 1, 1, 1]) } },
  { name: 'groups=2', x: [1, 4, 5, 5], w: [6, 2, 3, 3], attrs: { group: attr.i(2), pads: attr.ints([1, 1, 1, 1]) } },
  { name: 'groups=2, one output channel per group', x: [1, 4, 5, 5], w: [2, 2, 3, 3], attrs: { group: attr.i(2), pads: attr.ints([1, 1, 1, 1]) } },
  { name: 'depthwise', x: [2, 3, 5, 5], w: [3, 1, 3, 3], attrs: { group: attr.i(3), pads: attr.ints([1, 1, 1, 1]) } },
  { name: 'depthwise ×2 multiplier, stride 2', x: [1, 2, 7, 7], w: [4, 1, 3, 3], attrs: { group: attr.i(2), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) } },
  { name: 'stride 2, odd input', x: [1, 2, 7, 7], w: [3, 2, 3, 3], attrs: { strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) } },
  { name: 'stride 2, even input (skipped row)', x: [1, 2, 8, 8], w: [3, 2, 3, 3], attrs: { strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) } },
  { name: 'stride 3, 2×2 kernel, no pads', x: [1, 2, 8, 7], w: [2, 2, 2, 2], attrs: { strides: attr.ints([3, 3]) } },
  { name: 'dilation 2', x: [1, 2, 7, 7], w: [2, 2, 3, 3], attrs: { dilations: attr.ints([2, 2]), pads: attr.ints([2, 2, 2, 2]) } },
  { name: 'dilation 2 stride 2', x: [1, 2, 9, 8], w: [2, 2, 3, 3], attrs: { dilations: attr.ints([2, 2]), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) } },
  { name: 'asymmetric pads', x: [1, 2, 5, 6], w: [3, 2, 3, 2], attrs: { pads: attr.ints([0, 2, 1, 0]) } },
  { name: 'auto_pad SAME_UPPER stride 2', x: [1, 2, 6, 7], w: [2, 2, 3, 3], attrs: { auto_pad: attr.s('SAME_UPPER'), strides: attr.ints([2, 2]) } },
  { name: 'auto_pad SAME_LOWER', x: [1, 2, 6, 6], w: [2, 2, 4, 4], attrs: { auto_pad: attr.s('SAME_LOWER') } },
  { name: 'auto_pad VALID stride 2', x: [1, 2, 7, 6], w: [2, 2, 3, 3], attrs: { auto_pad: attr.s('VALID'), strides: attr.ints([2, 2]) } },
  { name: '1-D conv', x: [2, 2, 9], w: [3, 2, 3], attrs: { strides: attr.ints([2]), pads: attr.ints([1, 0]) } },
  { name: '1×1 stride 2, even input (downsample: 1×1 Conv then spread)', x: [2, 3, 6, 6], w: [4, 3, 1, 1], attrs: { strides: attr.ints([2, 2]) } },
  { name: '1×1 strides 2×3, odd input (spread then cropped)', x: [1, 2, 7, 8], w: [3, 2, 1, 1], attrs: { strides: attr.ints([2, 3]) } },
  { name: '1-D 1×1 stride 3', x: [1, 2, 7], w: [2, 2, 1], attrs: { strides: attr.ints([3]) } },
];

for (const c of convCases) {
  test(`Conv ${c.name}: d/dx, d/dW, d/dB`, async () => {
    await checkOp(randomFeed(rng, c.x), (b) => b.op('Conv', ['x', weight(b, 'W', c.w), weight(b, 'B', [c.w[0]])], c.attrs), ['W', 'B']);
  });
}

test('ConvTranspose stride 2, pads, output_padding, groups 2: d/dx, d/dW, d/dB', async () => {
  const attrs = { strides: attr.ints([2, 2]), pads: attr.ints([1, 0, 1, 1]), output_padding: attr.ints([1, 0]), group: attr.i(2) };
  await checkOp(randomFeed(rng, [2, 4, 4, 3]), (b) => b.op('ConvTranspose', ['x', weight(b, 'W', [4, 3, 3, 3]), weight(b, 'B', [6])], attrs), ['W', 'B']);
});

test('ConvTranspose dilation 2: d/dx, d/dW', async () => {
  await checkOp(randomFeed(rng, [1, 2, 4, 4]), (b) => b.op('ConvTranspose', ['x', weight(b, 'W', [2, 3, 2, 3])], { dilations: attr.ints([2, 2]) }), ['W']);
});

test('BatchNormalization (inference): d/dx, d/dscale, d/dbias', async () => {
  await checkOp(randomFeed(rng, [2, 3, 4, 4]), (b) => {
    const scale = weight(b, 'scale', [3]);
    const bias = weight(b, 'bias', [3]);
    const mean = weight(b, 'mean', [3]);
    const variance = b.initializer(floatTensor('var', [3], [0.5, 1.5, 0.8]));
    return b.op('BatchNormalization', ['x', scale, bias, mean, variance], { epsilon: attr.f(1e-3) });
  }, ['scale', 'bias']);
});

const pool = (kernel: number, stride: number, extra: Record<string, Attribute> = {}) => ({
  kernel_shape: attr.ints([kernel, kernel]), strides: attr.ints([stride, stride]), ...extra,
});

const maxPoolCases: [string, number[], Record<string, Attribute>][] = [
  ['3×3 stride 2, overlapping windows', [2, 2, 7, 7], pool(3, 2)],
  ['3×3 stride 2 pads 1 (ResNet stem)', [1, 2, 8, 8], pool(3, 2, { pads: attr.ints([1, 1, 1, 1]) })],
  ['2×2 stride 2', [1, 3, 6, 6], pool(2, 2)],
  ['2×2 stride 2 ceil_mode on odd input', [1, 2, 7, 7], pool(2, 2, { ceil_mode: attr.i(1) })],
  ['3×3 stride 1, storage_order 1, asymmetric pads', [1, 2, 5, 6], pool(3, 1, { storage_order: attr.i(1), pads: attr.ints([1, 0, 0, 1]) })],
];
for (const [name, dims, attrs] of maxPoolCases) {
  test(`MaxPool ${name}`, async () => {
    await checkOp(distinctFeed(rng, dims), (b) => b.op('MaxPool', ['x'], attrs));
  });
}

const avgPoolCases: [string, number[], Record<string, Attribute>][] = [
  ['3×3 s2 pads 1 count_include_pad=0', [1, 2, 7, 7], pool(3, 2, { pads: attr.ints([1, 1, 1, 1]) })],
  ['3×3 s2 pads 1 count_include_pad=1', [1, 2, 7, 7], pool(3, 2, { pads: attr.ints([1, 1, 1, 1]), count_include_pad: attr.i(1) })],
  ['3×3 s2 ceil_mode count_include_pad=0', [1, 2, 6, 6], pool(3, 2, { ceil_mode: attr.i(1) })],
  ['3×3 s2 ceil_mode pads count_include_pad=1', [1, 2, 6, 8], pool(3, 2, { ceil_mode: attr.i(1), pads: attr.ints([1, 0, 1, 0]), count_include_pad: attr.i(1) })],
  ['2×2 s2 asymmetric pads, even input', [2, 2, 6, 5], pool(2, 2, { pads: attr.ints([0, 1, 1, 0]) })],
  ['auto_pad SAME_UPPER', [1, 2, 5, 5], pool(3, 2, { auto_pad: attr.s('SAME_UPPER') })],
];
for (const [name, dims, attrs] of avgPoolCases) {
  test(`AveragePool ${name}`, async () => {
    await checkOp(randomFeed(rng, dims), (b) => b.op('AveragePool', ['x'], attrs));
  });
}

test('GlobalAveragePool', async () => {
  await checkOp(randomFeed(rng, [2, 3, 4, 5]), (b) => b.op('GlobalAveragePool', ['x']));
});

test('GlobalMaxPool', async () => {
  await checkOp(distinctFeed(rng, [2, 3, 3, 4]), (b) => b.op('GlobalMaxPool', ['x']));
});
