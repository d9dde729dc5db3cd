/**
 * The speed-motivated forms of the backward graph: output-only Clip/Relu masks and BatchNormalization folded
 * into the preceding Conv — checked against finite differences and, for the folding, against the unfolded forward.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GraphBuilder } from '../../src/onnx/graph.js';
import type { Attribute, Model } from '../../src/onnx/types.js';
import { attr, floatTensor, tensorSize } from '../../src/onnx/types.js';
import { Session, asFloat32, float32 } from '../../src/runtime/session.js';
import { buildGradientModel } from '../../src/autodiff/grad.js';
import { foldBatchNorms } from '../../src/autodiff/foldbn.js';
import { Rng } from '../../src/util/rng.js';
import type { Feed } from './fd.js';
import { checkGradients, opGraph, randomFeed } from './fd.js';

const rng = new Rng(2024);

function param(b: GraphBuilder, name: string, dims: number[], lo = -0.5, hi = 0.5): string {
  return b.initializer(floatTensor(name, dims, Float32Array.from({ length: tensorSize(dims) }, () => rng.uniform(lo, hi))));
}

/** Conv (+ optional bias) → inference BatchNormalization with random statistics. */
function convBn(b: GraphBuilder, x: string, name: string, w: number[], attrs: Record<string, Attribute>, bias: boolean): string {
  const cout = w[0];
  const inputs = [x, param(b, `${name}.W`, w), ...(bias ? [param(b, `${name}.B`, [cout])] : [])];
  const conv = b.op('Conv', inputs, attrs, `${name}.conv`);
  return b.op('BatchNormalization', [
    conv, param(b, `${name}.gamma`, [cout], 0.5, 1.5), param(b, `${name}.beta`, [cout]), param(b, `${name}.mean`, [cout]), param(b, `${name}.var`, [cout], 0.3, 1.5),
  ], { epsilon: attr.f(1e-3) }, `${name}.bn`);
}

async function check(feeds: Record<string, Feed>, wrt: string[], build: (b: GraphBuilder) => string): Promise<void> {
  const dims = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, v.dims]));
  const { model, objective } = opGraph(dims, build);
  await checkGradients(model, { objective, wrt, feeds });
}

const x4 = [2, 3, 2, 3];

test('Clip: min only, ReLU6 bounds, both bounds — masks from the output', async () => {
  await check({ x: randomFeed(rng, x4, -1, 1, [-0.2]) }, ['x'], (b) => b.op('Clip', ['x', b.constFloat('lo', -0.2, [])]));
  await check({ x: randomFeed(rng, x4, -2, 8, [0, 6]) }, ['x'], (b) => b.op('Clip', ['x', b.constFloat('lo', 0, []), b.constFloat('hi', 6, [])]));
  await check({ x: randomFeed(rng, x4, -1, 1, [-0.5, 0.3]) }, ['x'], (b) => b.op('Mul', [b.op('Clip', ['x', b.constFloat('lo', -0.5, []), b.constFloat('hi', 0.3, [])]), 'x']));
});

test('Clip with a bound fed at run time falls back to comparing input and output', async () => {
  const feeds = { x: randomFeed(rng, x4, -1, 1, [0.25]), hi: { data: Float32Array.of(0.25), dims: [] } };
  await check(feeds, ['x'], (b) => b.op('Clip', ['x', '', 'hi']));
});

test('Relu: mask from the output, also when the input is used elsewhere', async () => {
  await check({ x: randomFeed(rng, x4, -1, 1, [0]) }, ['x'], (b) => b.op('Add', [b.op('Relu', ['x']), b.op('Mul', ['x', 'x'])]));
});

const bnCases: [string, number[], number[], Record<string, Attribute>, boolean][] = [
  ['3×3, bias, pads', [2, 3, 6, 6], [4, 3, 3, 3], { pads: attr.ints([1, 1, 1, 1]) }, true],
  ['depthwise stride 2, no bias', [1, 4, 7, 7], [4, 1, 3, 3], { group: attr.i(4), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) }, false],
  ['grouped 1×1', [1, 4, 3, 3], [6, 2, 1, 1], { group: attr.i(2) }, false],
];
for (const [name, xDims, w, attrs, bias] of bnCases) {
  test(`Conv → BatchNormalization → ReLU6 (${name}): folded input gradient`, async () => {
    const build = (b: GraphBuilder) => b.op('Clip', [convBn(b, 'x', 'l', w, attrs, bias), b.constFloat('lo', 0, []), b.constFloat('hi', 6, [])]);
    const { model, objective } = opGraph({ x: xDims }, build);
    const gm = buildGradientModel(model, { objective, wrt: ['x'], inputShapes: { x: xDims } });
    assert.ok(!gm.model.graph.nodes.some((n) => n.opType === 'BatchNormalization'), 'BatchNormalization is folded away');
    await checkGradients(model, { objective, wrt: ['x'], feeds: { x: randomFeed(rng, xDims, -2, 2) } });
    // Fine-tuning: weights, γ and β differentiated, running statistics frozen (folded inside the graph).
    const params = ['l.W', ...(bias ? ['l.B'] : []), 'l.gamma', 'l.beta'];
    await checkGradients(model, { objective, wrt: ['x', ...params], feeds: { x: randomFeed(rng, xDims, -2, 2) } });
  });
}

test('BatchNormalization folds inside the graph (W·s, (B − mean)·s + β) when the Conv weight or a BN parameter is differentiated', async () => {
  const xDims = [2, 3, 5, 5];
  const build = (b: GraphBuilder) => {
    const y = convBn(b, 'x', 'l', [4, 3, 3, 3], { pads: attr.ints([1, 1, 1, 1]) }, true);
    return b.op('Mul', [y, y]);
  };
  const { model, objective } = opGraph({ x: xDims }, build);
  for (const wrt of [['x', 'l.W'], ['x', 'l.gamma'], ['l.B', 'l.beta'], ['l.W', 'l.B', 'l.gamma', 'l.beta']]) {
    const gm = buildGradientModel(model, { objective, wrt, inputShapes: { x: xDims } });
    assert.ok(!gm.model.graph.nodes.some((n) => n.opType === 'BatchNormalization'), `wrt ${wrt.join(', ')}: BN folded`);
    await checkGradients(model, { objective, wrt, feeds: { x: randomFeed(rng, xDims) } });
  }
});

/** Runs a single-input model and returns its named outputs. */
async function runOutputs(model: Model, x: Feed, names: string[]): Promise<Float32Array[]> {
  const g = { ...model.graph, outputs: names.map((name) => ({ name, dtype: 'float32' as const })) };
  const s = await Session.create({ ...model, graph: g });
  const out = await s.run({ x: float32(x.data, x.dims) });
  await s.release();
  return names.map((n) => asFloat32(out[n]));
}

test('foldBatchNorms: same forward values; kept Conv outputs, shared Conv outputs and graph outputs are not folded', async () => {
  const xDims = [2, 3, 6, 6];
  let branchConv = '';
  const build = (b: GraphBuilder) => {
    const a = convBn(b, 'x', 'a', [4, 3, 3, 3], { pads: attr.ints([1, 1, 1, 1]) }, true);
    const c = convBn(b, a, 'c', [4, 4, 1, 1], {}, false);
    branchConv = b.op('Conv', [c, param(b, 'd.W', [4, 4, 1, 1])], {}, 'd.conv');
    const d = b.op('BatchNormalization', [branchConv, param(b, 'd.g', [4], 0.5, 1.5), param(b, 'd.b', [4]), param(b, 'd.m', [4]), param(b, 'd.v', [4], 0.5, 1)]);
    return b.op('Add', [d, branchConv]);
  };
  const { model, objective } = opGraph({ x: xDims }, build);
  const x = randomFeed(rng, xDims);
  const folded = { ...model, graph: foldBatchNorms(model.graph, new Set(['c.conv'])) };
  const bns = folded.graph.nodes.filter((n) => n.opType === 'BatchNormalization').map((n) => n.inputs[0]);
  assert.deepEqual(bns.sort(), ['c.conv', branchConv].sort(), 'only the first pair folds');
  assert.equal(model.graph.nodes.filter((n) => n.opType === 'BatchNormalization').length, 3, 'the source graph is untouched');
  const [want, wantA] = await runOutputs(model, x, [objective, 'a.bn']);
  const [got, gotA] = await runOutputs(folded, x, [objective, 'a.bn']);
  assert.ok(Math.abs(want[0] - got[0]) <= 1e-4 * Math.max(1, Math.abs(want[0])), `objective ${got[0]} vs ${want[0]}`);
  wantA.forEach((v, i) => assert.ok(Math.abs(v - gotA[i]) <= 1e-5 * Math.max(1, Math.abs(v)), `a.bn[${i}]: ${gotA[i]} vs ${v}`));
  await checkGradients(model, { objective, wrt: ['x'], feeds: { x } });
});
