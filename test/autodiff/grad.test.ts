/** The engine: whole small models vs directional finite differences, opset upgrade, parameters as inputs, errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/onnx/graph.js';
import type { Model } from '../../src/onnx/types.js';
import { attr, emptyGraph, floatTensor, newModel, opsetOf, tensorSize } from '../../src/onnx/types.js';
import { float32 } from '../../src/runtime/session.js';
import { buildGradientModel, GradientRunner, objectives } from '../../src/autodiff/index.js';
import { GraftError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import { analyticGradients, checkDirectional, checkGradients, feedsAwayFromKinks, opGraph, randomFeed } from './fd.js';

const rng = new Rng(99);

function param(b: GraphBuilder, name: string, dims: number[], scale: number): string {
  return b.initializer(floatTensor(name, dims, Float32Array.from({ length: tensorSize(dims) }, () => rng.normal() * scale)));
}

function convBnRelu(b: GraphBuilder, x: string, name: string, cin: number, cout: number, stride = 1): string {
  const w = param(b, `${name}.W`, [cout, cin, 3, 3], Math.sqrt(2 / (9 * cin)));
  const conv = b.op('Conv', [x, w], { pads: attr.ints([1, 1, 1, 1]), strides: attr.ints([stride, stride]) }, name);
  const bn = b.op('BatchNormalization', [
    conv,
    b.initializer(floatTensor(`${name}.scale`, [cout], Float32Array.from({ length: cout }, () => rng.uniform(0.5, 1.5)))),
    param(b, `${name}.bias`, [cout], 0.1),
    param(b, `${name}.mean`, [cout], 0.1),
    b.initializer(floatTensor(`${name}.var`, [cout], Float32Array.from({ length: cout }, () => rng.uniform(0.5, 1.5)))),
  ]);
  return b.op('Relu', [bn]);
}

/** PyTorch-export-style flatten: Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])). */
function torchFlatten(b: GraphBuilder, x: string): string {
  const n = b.op('Gather', [b.op('Shape', [x]), b.constInt64('zero', [0], [])], { axis: attr.i(0) });
  const target = b.op('Concat', [b.op('Unsqueeze', [n, b.constInt64('ax', [0])]), b.constInt64('m1', [-1])], { axis: attr.i(0) });
  return b.op('Reshape', [x, target]);
}

function gemmHead(b: GraphBuilder, features: string, cin: number, classes: number): string {
  return b.op('Gemm', [features, param(b, 'fc.W', [classes, cin], 0.3), param(b, 'fc.B', [classes], 0.1)], { transB: attr.i(1) }, 'logits');
}

/** 3 × (conv-BN-ReLU-maxpool) → GAP → flatten → Gemm. */
function threeBlockNet(b: GraphBuilder): string {
  let x = 'x';
  const widths = [3, 6, 8, 8];
  for (let i = 0; i < 3; i++) {
    x = convBnRelu(b, x, `block${i}`, widths[i], widths[i + 1]);
    x = b.op('MaxPool', [x], { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) });
  }
  return gemmHead(b, torchFlatten(b, b.op('GlobalAveragePool', [x])), 8, 5);
}

/** stem conv → residual block (conv-BN-ReLU-conv-BN + identity) → ReLU → GAP → Gemm. */
function residualNet(b: GraphBuilder): string {
  const stem = convBnRelu(b, 'x', 'stem', 3, 6, 2);
  const branch = convBnRelu(b, stem, 'res.a', 6, 6);
  const w = param(b, 'res.b.W', [6, 6, 3, 3], 0.15);
  const conv = b.op('Conv', [branch, w], { pads: attr.ints([1, 1, 1, 1]) });
  const sum = b.op('Add', [conv, stem]);
  return gemmHead(b, b.op('Flatten', [b.op('GlobalAveragePool', [b.op('Relu', [sum])])]), 6, 4);
}

for (const [name, build, params] of [
  ['3-block conv-BN-ReLU-maxpool-GAP-Gemm net', threeBlockNet, ['block0.W', 'block1.scale', 'fc.W']],
  ['residual block with Add', residualNet, ['stem.W', 'res.b.W', 'fc.B']],
] as const) {
  test(`${name}: input and parameter gradients along 3 random directions`, async () => {
    const { model, objective } = opGraph({ x: [2, 3, 16, 16] }, build);
    const feeds = feedsAwayFromKinks(model, objective, () => ({ x: randomFeed(rng, [2, 3, 16, 16]) }));
    await checkDirectional(model, { objective, wrt: ['x'], feeds, directions: 3 });
    await checkDirectional(model, { objective, wrt: [...params], feeds, directions: 3, seed: 5 });
  });
}

test('cross-entropy objective through the 3-block net', async () => {
  const g = emptyGraph('net');
  const b = new GraphBuilder(g);
  b.input('x', 'float32', [2, 3, 16, 16]);
  const loss = objectives.crossEntropy(b, threeBlockNet(b), 'target');
  b.output(loss, 'float32', []);
  const target = new Float32Array(10);
  target[1] = 1;
  target[5 + 3] = 1;
  const model = newModel(g);
  const feeds = feedsAwayFromKinks(model, loss, () => ({ x: randomFeed(rng, [2, 3, 16, 16]), target: { data: target, dims: [2, 5] } }));
  await checkDirectional(model, { objective: loss, wrt: ['x', 'fc.W'], feeds });
});

/** An opset-11 graph using the ops whose signatures changed at 12/13. */
function opset11Graph(b: GraphBuilder): string {
  const u = b.op('Unsqueeze', ['x'], { axes: attr.ints([1]) }); // [2,1,3,4]
  const s = b.op('Softmax', [u], { axis: attr.i(2) }); // pre-13: softmax over the flattened trailing [3,4]
  const [p, q] = b.node('Split', [b.op('Squeeze', [s], { axes: attr.ints([1]) })], { axis: attr.i(2), split: attr.ints([1, 3]) }, { outputs: 2 });
  const r = b.op('ReduceSum', [q], { axes: attr.ints([2]), keepdims: attr.i(1) });
  const d = b.op('Dropout', [b.op('Mul', [p, r])], { ratio: attr.f(0.3) });
  return b.op('LogSoftmax', [b.op('Mul', [d, b.constFloat('k', 40, [])])], { axis: attr.i(1) });
}

test('opset-11 model: upgraded to 17 and differentiated; finite differences run the original opset-11 graph', async () => {
  const { model, objective } = opGraph({ x: [2, 3, 4] }, opset11Graph, 7, 11);
  assert.equal(opsetOf(model), 11);
  const gm = buildGradientModel(model, { objective, wrt: ['x'], inputShapes: { x: [2, 3, 4] } });
  assert.equal(opsetOf(gm.model), 17);
  await checkGradients(model, { objective, wrt: ['x'], feeds: { x: randomFeed(rng, [2, 3, 4], -0.2, 0.2) } });
});

test('initializers in wrt become graph inputs; a runner takes new weights without rebuilding', async () => {
  const g = emptyGraph('net');
  const b = new GraphBuilder(g);
  b.input('x', 'float32', [2, 3, 16, 16]);
  b.output(residualNet(b), 'float32', [2, 4]);
  const model: Model = newModel(g);
  const gm = buildGradientModel(model, { objective: 'logits', wrt: ['x', 'res.b.W', 'fc.W'], inputShapes: { x: [2, 3, 16, 16] }, keepOutputs: ['logits'] });
  assert.deepEqual(gm.paramInputs, ['res.b.W', 'fc.W']);
  assert.ok(!gm.model.graph.initializers.has('res.b.W') && gm.model.graph.inputs.some((i) => i.name === 'res.b.W'));
  assert.ok(model.graph.initializers.has('res.b.W'), 'the source model is left untouched');

  const runner = await GradientRunner.create(model, (gb) => objectives.logit(gb, 'logits'), {
    wrt: ['x', 'res.b.W'], inputShapes: { x: [2, 3, 16, 16], target_onehot: [2, 4] }, keepOutputs: ['logits'],
  });
  const x = randomFeed(rng, [2, 3, 16, 16]);
  const onehot = new Float32Array(8);
  onehot[2] = 1;
  onehot[4 + 0] = 1;
  const feeds = { x: float32(x.data, x.dims), target_onehot: float32(onehot, [2, 4]) };
  const first = await runner.run(feeds);
  assert.ok(Math.abs(first.objective - (first.outputs.logits[2] + first.outputs.logits[4])) < 1e-5, 'objective = picked logits');

  const newW = Float32Array.from({ length: 6 * 6 * 9 }, () => rng.normal() * 0.2);
  const second = await runner.run({ ...feeds, 'res.b.W': float32(newW, [6, 6, 3, 3]) });
  const changed = { ...model, graph: { ...model.graph, initializers: new Map(model.graph.initializers).set('res.b.W', floatTensor('res.b.W', [6, 6, 3, 3], newW)) } };
  const cg = changed.graph;
  const gb = new GraphBuilder(cg);
  const objective = objectives.logit(gb, 'logits');
  const reference = await analyticGradients(changed, { objective, wrt: ['x', 'res.b.W'], feeds: { x, target_onehot: { data: onehot, dims: [2, 4] } } });
  for (const w of ['x', 'res.b.W']) {
    const a = second.grads[w];
    const r = reference.grads[w];
    assert.ok(a.every((v, i) => Math.abs(v - r[i]) < 1e-4), `${w}: runner with fed weights = gradient model built with those weights`);
    assert.ok(a.some((v, i) => Math.abs(v - first.grads[w][i]) > 1e-3), `${w}: the fed weights were used`);
  }
  await runner.release();
});

test('an op without a rule on the gradient path is an UNSUPPORTED_OP error naming op and node', () => {
  const { model, objective } = opGraph({ x: [3] }, (b) => b.op('Erf', ['x'], {}, 'my_erf'));
  assert.throws(() => buildGradientModel(model, { objective, wrt: ['x'], inputShapes: { x: [3] } }), (err: unknown) => {
    assert.ok(err instanceof GraftError);
    assert.equal(err.code, 'UNSUPPORTED_OP');
    assert.match(err.message, /no gradient rule for op Erf \(node "my_erf"\)/);
    return true;
  });
});

test('ops off the gradient path need no rule; a wrt tensor the objective ignores gets a zero gradient', async () => {
  const { model, objective } = opGraph({ x: [3], z: [3] }, (b) => {
    b.output(b.op('Sin', ['z']), 'float32', [3]);
    return b.op('Exp', ['x']);
  });
  const { grads } = await analyticGradients(model, { objective, wrt: ['x', 'z'], feeds: { x: randomFeed(rng, [3]), z: randomFeed(rng, [3]) } });
  assert.deepEqual([...grads.z], [0, 0, 0]);
  assert.ok(grads.x.some((v) => v !== 0));
});

test('unknown wrt or objective names are UNKNOWN_TENSOR errors', () => {
  const { model, objective } = opGraph({ x: [3] }, (b) => b.op('Exp', ['x']));
  assert.throws(() => buildGradientModel(model, { objective, wrt: ['nope'], inputShapes: { x: [3] } }), /neither a graph input nor an initializer/);
  assert.throws(() => buildGradientModel(model, { objective: 'nope', wrt: ['x'], inputShapes: { x: [3] } }), /objective tensor "nope"/);
});
