import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readModel, encodeModel, decodeModel } from '../../src/onnx/codec.js';
import { GraphBuilder, cutAt, exposeOutputs, resolveTensor, parameterCount } from '../../src/onnx/graph.js';
import { topoSort } from '../../src/onnx/order.js';
import { emptyGraph, newModel, attr, floatTensor } from '../../src/onnx/types.js';
import { inferShapes } from '../../src/onnx/shapes.js';
import { foldConstants } from '../../src/onnx/fold.js';
import { Session, float32 } from '../../src/runtime/session.js';
import { sharedModels } from '../helpers/paths.js';

/** conv → relu → (pytorch-style flatten via Shape/Gather/Unsqueeze/Concat/Reshape) → gemm */
function smallNet() {
  const g = emptyGraph('small');
  const b = new GraphBuilder(g);
  b.input('x', 'float32', ['N', 2, 5, 5]);
  const w = b.initializer(floatTensor('w', [3, 2, 3, 3], Array.from({ length: 54 }, (_, i) => Math.sin(i))));
  const conv = b.op('Conv', ['x', w], { pads: attr.ints([1, 1, 1, 1]), strides: attr.ints([2, 2]) }, 'conv');
  const relu = b.op('Relu', [conv], {}, 'relu');
  const shape = b.op('Shape', [relu]);
  const n = b.op('Gather', [shape, b.constInt64('zero', [0], [])], { axis: attr.i(0) });
  const nu = b.op('Unsqueeze', [n, b.constInt64('ax', [0])]);
  const target = b.op('Concat', [nu, b.constInt64('minus1', [-1])], { axis: attr.i(0) });
  const flat = b.op('Reshape', [relu, target], {}, 'flatten');
  const fw = b.initializer(floatTensor('fc.weight', [4, 27], Array.from({ length: 108 }, (_, i) => Math.cos(i) / 5)));
  const fb = b.initializer(floatTensor('fc.bias', [4], [0.1, -0.2, 0.3, 0]));
  const y = b.op('Gemm', [flat, fw, fb], { transB: attr.i(1) }, 'fc');
  b.output(y, 'float32', ['N', 4]);
  return newModel(g, 17);
}

const input = (n: number) => float32(Float32Array.from({ length: n * 50 }, (_, i) => Math.cos(i * 0.37)), [n, 2, 5, 5]);

test('codec round-trips a real model bit-exactly in behaviour', async () => {
  const file = path.join(sharedModels, 'mobilenetv2-12-int8.onnx');
  const m = readModel(file);
  assert.equal(m.graph.inputs[0].name, 'input');
  const again = decodeModel(encodeModel(m));
  assert.equal(again.graph.nodes.length, m.graph.nodes.length);
  assert.deepEqual([...again.graph.initializers.keys()], [...m.graph.initializers.keys()]);
  const x = float32(Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => Math.sin(i)), [1, 3, 224, 224]);
  const a = (await (await Session.create(file)).run({ input: x })).output.data as Float32Array;
  const b = (await (await Session.create(again)).run({ input: x })).output.data as Float32Array;
  assert.deepEqual(Array.from(a), Array.from(b));
});

test('int64 attributes survive: negative axes and INT64_MAX slice ends', () => {
  const g = emptyGraph();
  g.nodes.push({ name: 's', opType: 'Softmax', inputs: ['x'], outputs: ['y'], attributes: { axis: attr.i(-1), big: attr.i(2 ** 63) } });
  const back = decodeModel(encodeModel(newModel(g))).graph.nodes[0].attributes;
  assert.deepEqual(back.axis, { type: 'int', value: -1 });
  assert.equal(back.big.type === 'int' && back.big.value > 9e18, true);
});

test('topoSort orders a shuffled graph', () => {
  const m = smallNet();
  const shuffled = { ...m.graph, nodes: [...m.graph.nodes].reverse() };
  const order = topoSort(shuffled);
  const seen = new Set(['x', ...m.graph.initializers.keys()]);
  for (const n of order) {
    for (const i of n.inputs) assert.ok(seen.has(i), `${n.name} reads ${i} before it exists`);
    n.outputs.forEach((o) => seen.add(o));
  }
});

test('shape inference agrees with onnxruntime on every tensor', async () => {
  const m = smallNet();
  const names = m.graph.nodes.flatMap((n) => n.outputs);
  const exposed = { ...m, graph: exposeOutputs(m.graph, names) };
  const out = await (await Session.create(exposed)).run({ x: input(3) });
  const info = inferShapes(m.graph, { x: [3, 2, 5, 5] });
  for (const name of names) assert.deepEqual(info.get(name)!.shape, [...out[name].dims], name);
  const symbolic = inferShapes(m.graph);
  assert.deepEqual(symbolic.get('relu')!.shape, ['N', 3, 3, 3]);
  assert.deepEqual(symbolic.get('flatten')!.shape, ['N', 27]);
});

test('constant folding removes the shape chain for a fixed batch and keeps outputs identical', async () => {
  const m = smallNet();
  const { model: folded, folded: count } = foldConstants(m, { x: [3, 2, 5, 5] });
  assert.ok(count >= 4, `folded ${count}`);
  assert.ok(!folded.graph.nodes.some((n) => n.opType === 'Shape'));
  const { model: symbolic } = foldConstants(m);
  assert.ok(symbolic.graph.nodes.some((n) => n.opType === 'Shape'), 'batch-dependent chain must stay dynamic');
  const ref = (await (await Session.create(m)).run({ x: input(3) }))[m.graph.outputs[0].name].data;
  const got = (await (await Session.create(folded)).run({ x: input(3) }))[m.graph.outputs[0].name].data;
  assert.deepEqual(Array.from(got as Float32Array), Array.from(ref as Float32Array));
});

test('cutAt keeps only what the tap needs; exposeOutputs adds intermediates', async () => {
  const m = smallNet();
  const cut = cutAt(m.graph, ['relu']);
  assert.deepEqual(cut.outputs.map((o) => o.name), [resolveTensor(m.graph, 'relu')]);
  assert.ok(!cut.initializers.has('fc.weight'));
  assert.equal(parameterCount(cut).trainable, 54);
  assert.equal(parameterCount(m.graph).trainable, 54 + 108 + 4);
  const out = await (await Session.create({ ...m, graph: cut })).run({ x: input(1) });
  assert.deepEqual([...Object.values(out)[0].dims], [1, 3, 3, 3]);
  assert.throws(() => resolveTensor(m.graph, 'nope'), /no tensor or layer named "nope"/);
});

test('topoSort handles a node reading the same tensor twice', () => {
  const g = emptyGraph();
  const b = new GraphBuilder(g);
  b.input('x', 'float32', [2]);
  const t = b.op('Relu', ['x']);
  const sq = b.op('Mul', [t, t]);
  b.output(sq);
  g.nodes.reverse();
  assert.deepEqual(topoSort(g).map((n) => n.opType), ['Relu', 'Mul']);
});

test('pool shapes with ceil_mode drop a last window that starts in the end padding (as onnxruntime)', async () => {
  for (const [size, k, s, p] of [[3, 2, 2, 1], [5, 3, 2, 0], [6, 3, 2, 1], [7, 2, 3, 1]]) {
    const g = emptyGraph();
    const b = new GraphBuilder(g);
    b.input('x', 'float32', [1, 1, size, size]);
    const y = b.op('MaxPool', ['x'], { kernel_shape: attr.ints([k, k]), strides: attr.ints([s, s]), pads: attr.ints([p, p, p, p]), ceil_mode: attr.i(1) });
    b.output(y);
    const out = await (await Session.create(newModel(g))).run({ x: float32(new Float32Array(size * size), [1, 1, size, size]) });
    assert.deepEqual(inferShapes(g).get(y)!.shape, [...Object.values(out)[0].dims], `size ${size} k ${k} s ${s} p ${p}`);
  }
});

test('a failing shape rule is recorded on its outputs and on the tensors computed from them', () => {
  const g = emptyGraph('bad');
  const b = new GraphBuilder(g);
  b.input('a', 'float32', [2, 3]);
  b.input('c', 'float32', [4, 5]);
  const sum = b.op('Add', ['a', 'c'], {}, 'mismatch');
  const r = b.op('Relu', [sum], {}, 'after');
  const info = inferShapes(g);
  assert.equal(info.get(sum)?.shape, undefined);
  assert.match(info.get(sum)?.failure ?? '', /Add node "mismatch" failed: cannot broadcast/);
  assert.equal(info.get(r)?.failure, info.get(sum)?.failure);
});
