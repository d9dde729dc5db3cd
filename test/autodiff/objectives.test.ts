/** Objective fragments: values against plain-JS formulas, gradients against finite differences. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/onnx/graph.js';
import { emptyGraph, newModel } from '../../src/onnx/types.js';
import { objectives } from '../../src/autodiff/index.js';
import { Rng } from '../../src/util/rng.js';
import type { Feed } from './fd.js';
import { analyticGradients, checkGradients, randomFeed } from './fd.js';

const rng = new Rng(5);

/** Graph with input x [dims] → objective(b, 'x'); checks the value against `expected` and the x-gradient against FD. */
async function checkObjective(x: Feed, build: (b: GraphBuilder) => string, extra: Record<string, Feed>, expected: number): Promise<void> {
  const g = emptyGraph('objective');
  const b = new GraphBuilder(g);
  b.input('x', 'float32', x.dims);
  const objective = build(b);
  b.output(objective, 'float32', []);
  const model = newModel(g);
  const feeds = { x, ...extra };
  const { objective: value } = await analyticGradients(model, { objective, wrt: ['x'], feeds });
  assert.ok(Math.abs(value - expected) <= 1e-4 * Math.max(1, Math.abs(expected)), `value ${value} vs expected ${expected}`);
  await checkGradients(model, { objective, wrt: ['x'], feeds });
}

const at = (f: Feed, ...idx: number[]) => {
  let flat = 0;
  idx.forEach((v, k) => (flat = flat * f.dims[k] + v));
  return f.data[flat];
};

function oneHot(rows: number[], classes: number): Feed {
  const data = new Float32Array(rows.length * classes);
  rows.forEach((c, n) => (data[n * classes + c] = 1));
  return { data, dims: [rows.length, classes] };
}

test('logit: Σ over the batch of the logit of each row\'s target class', async () => {
  const x = randomFeed(rng, [3, 5]);
  const target = oneHot([4, 0, 2], 5);
  await checkObjective(x, (b) => objectives.logit(b, 'x'), { target_onehot: target }, at(x, 0, 4) + at(x, 1, 0) + at(x, 2, 2));
});

test('crossEntropy: batch mean of −log softmax at the target', async () => {
  const x = randomFeed(rng, [3, 4], -2, 2);
  const classes = [1, 3, 0];
  let expected = 0;
  for (let n = 0; n < 3; n++) {
    const row = [0, 1, 2, 3].map((c) => at(x, n, c));
    const lse = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
    expected += (lse - row[classes[n]]) / 3;
  }
  await checkObjective(x, (b) => objectives.crossEntropy(b, 'x', 'labels'), { labels: oneHot(classes, 4) }, expected);
});

test('channelMean: Σ over the batch of the spatial mean of the chosen channel', async () => {
  const x = randomFeed(rng, [2, 3, 4, 5]);
  const channel = { data: Float32Array.of(0, 1, 0), dims: [3] };
  let expected = 0;
  for (let n = 0; n < 2; n++) for (let h = 0; h < 4; h++) for (let w = 0; w < 5; w++) expected += at(x, n, 1, h, w) / 20;
  await checkObjective(x, (b) => objectives.channelMean(b, 'x'), { channel_onehot: channel }, expected);
});

test('neuron: Σ over the batch of one activation', async () => {
  const x = randomFeed(rng, [2, 3, 4, 5]);
  await checkObjective(x, (b) => objectives.neuron(b, 'x', 2, 1, 3), {}, at(x, 0, 2, 1, 3) + at(x, 1, 2, 1, 3));
});

for (const layout of ['NCHW', 'NHWC'] as const) {
  test(`totalVariation ${layout}: mean squared vertical + horizontal neighbour differences`, async () => {
    const dims = layout === 'NCHW' ? [2, 3, 4, 5] : [2, 4, 5, 3];
    const x = randomFeed(rng, dims);
    const px = (n: number, c: number, h: number, w: number) => (layout === 'NCHW' ? at(x, n, c, h, w) : at(x, n, h, w, c));
    let vertical = 0;
    let horizontal = 0;
    for (let n = 0; n < 2; n++) for (let c = 0; c < 3; c++) for (let h = 0; h < 4; h++) for (let w = 0; w < 5; w++) {
      if (h < 3) vertical += (px(n, c, h + 1, w) - px(n, c, h, w)) ** 2 / (2 * 3 * 3 * 5);
      if (w < 4) horizontal += (px(n, c, h, w + 1) - px(n, c, h, w)) ** 2 / (2 * 3 * 4 * 4);
    }
    await checkObjective(x, (b) => objectives.totalVariation(b, 'x', layout), {}, vertical + horizontal);
  });
}

test('l2: sum of squares', async () => {
  const x = randomFeed(rng, [2, 6]);
  await checkObjective(x, (b) => objectives.l2(b, 'x'), {}, x.data.reduce((s, v) => s + v * v, 0));
});

test('weightedSum: constant and graph-input weights', async () => {
  const x = randomFeed(rng, [2, 3, 4, 5]);
  const w = { data: Float32Array.of(0.25), dims: [] };
  const l2 = x.data.reduce((s, v) => s + v * v, 0);
  const neuron = at(x, 0, 1, 2, 3) + at(x, 1, 1, 2, 3);
  await checkObjective(x, (b) => {
    b.input('w', 'float32', []);
    return objectives.weightedSum(b, [[objectives.neuron(b, 'x', 1, 2, 3), -2], [objectives.l2(b, 'x'), 'w']]);
  }, { w }, -2 * neuron + 0.25 * l2);
});
