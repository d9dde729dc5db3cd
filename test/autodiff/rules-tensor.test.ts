/** Gradient rules of elementwise, broadcasting, matrix, shape and reduction ops vs central finite differences. */
import { test } from 'node:test';
import type { GraphBuilder } from '../../src/onnx/graph.js';
import type { Attribute } from '../../src/onnx/types.js';
import { attr, floatTensor } from '../../src/onnx/types.js';
import { Rng } from '../../src/util/rng.js';
import type { Feed } from './fd.js';
import { checkGradients, opGraph, randomFeed } from './fd.js';

const rng = new Rng(1234);

/** Gradients w.r.t. every feed (graph inputs) and the listed initializers. */
async function check(feeds: Record<string, Feed>, build: (b: GraphBuilder) => string, params: string[] = []): Promise<void> {
  const dims = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, v.dims]));
  const { model, objective } = opGraph(dims, build);
  await checkGradients(model, { objective, wrt: [...Object.keys(feeds), ...params], feeds });
}

const unaryOp = (op: string, attrs: Record<string, Attribute> = {}) => (b: GraphBuilder) => b.op(op, ['x'], attrs);
const x4 = [2, 3, 2, 3];

const unaryCases: [string, (b: GraphBuilder) => string, Feed][] = [
  ['Relu', unaryOp('Relu'), randomFeed(rng, x4, -1, 1, [0])],
  ['LeakyRelu', unaryOp('LeakyRelu', { alpha: attr.f(0.2) }), randomFeed(rng, x4, -1, 1, [0])],
  ['Elu', unaryOp('Elu', { alpha: attr.f(0.7) }), randomFeed(rng, x4, -2, 2, [0])],
  ['Sigmoid', unaryOp('Sigmoid'), randomFeed(rng, x4, -3, 3)],
  ['Tanh', unaryOp('Tanh'), randomFeed(rng, x4, -2, 2)],
  ['HardSigmoid', unaryOp('HardSigmoid', { alpha: attr.f(0.25), beta: attr.f(0.4) }), randomFeed(rng, x4, -4, 4, [-1.6, 2.4])],
  ['HardSwish', unaryOp('HardSwish'), randomFeed(rng, x4, -5, 5, [-3, 3])],
  ['Exp', unaryOp('Exp'), randomFeed(rng, x4)],
  ['Log', unaryOp('Log'), randomFeed(rng, x4, 0.5, 2)],
  ['Sqrt', unaryOp('Sqrt'), randomFeed(rng, x4, 0.5, 2)],
  ['Reciprocal', unaryOp('Reciprocal'), randomFeed(rng, x4, 0.5, 2)],
  ['Neg', unaryOp('Neg'), randomFeed(rng, x4)],
  ['Abs', unaryOp('Abs'), randomFeed(rng, x4, -1, 1, [0])],
  ['Identity', unaryOp('Identity'), randomFeed(rng, x4)],
  ['Dropout (inference)', unaryOp('Dropout'), randomFeed(rng, x4)],
  ['Cast float→float', unaryOp('Cast', { to: attr.i(1) }), randomFeed(rng, x4)],
  ['Clip (min/max inputs)', (b) => b.op('Clip', ['x', b.constFloat('lo', -0.5, []), b.constFloat('hi', 0.3, [])]), randomFeed(rng, x4, -1, 1, [-0.5, 0.3])],
  ['Clip (max only)', (b) => b.op('Clip', ['x', '', b.constFloat('hi', 0.3, [])]), randomFeed(rng, x4, -1, 1, [0.3])],
  ['Pow (constant exponent)', (b) => b.op('Pow', ['x', b.constFloat('p', 2.5, [])]), randomFeed(rng, x4, 0.5, 2)],
];
for (const [name, build, x] of unaryCases) {
  test(`${name}`, async () => {
    await check({ x }, build);
  });
}

const broadcastCases: [string, number[]][] = [
  ['[C,1,1]', [3, 1, 1]],
  ['scalar', []],
  ['[1,C,1,1]', [1, 3, 1, 1]],
  ['[W]', [4]],
  ['same shape', [2, 3, 2, 4]],
];
for (const op of ['Add', 'Sub', 'Mul', 'Div']) {
  for (const [name, yDims] of broadcastCases) {
    test(`${op} [N,C,H,W] × ${name} (both operands)`, async () => {
      await check({ a: randomFeed(rng, [2, 3, 2, 4]), c: randomFeed(rng, yDims, 0.5, 1.5) }, (b) => b.op(op, ['a', 'c']));
    });
  }
}

test('Mul by an operand of lower rank on the left ([C,1,1] × [N,C,H,W])', async () => {
  await check({ a: randomFeed(rng, [3, 1, 1]), c: randomFeed(rng, [2, 3, 2, 2]) }, (b) => b.op('Mul', ['a', 'c']));
});

test('Pow w.r.t. base and exponent', async () => {
  await check({ a: randomFeed(rng, [2, 3], 0.5, 2), c: randomFeed(rng, [3], 0.5, 2) }, (b) => b.op('Pow', ['a', 'c']));
});

test('Where (broadcast branches)', async () => {
  await check({ a: randomFeed(rng, [2, 3]), c: randomFeed(rng, [3]) }, (b) => b.op('Where', [b.op('Greater', ['a', b.constFloat('t', 0, [])]), 'a', 'c']));
});

test('Sum of three broadcast operands', async () => {
  await check({ a: randomFeed(rng, [2, 3]), c: randomFeed(rng, [3]), d: randomFeed(rng, [2, 1]) }, (b) => b.op('Sum', ['a', 'c', 'd']));
});

test('Expand', async () => {
  await check({ x: randomFeed(rng, [3, 1]) }, (b) => b.op('Expand', ['x', b.constInt64('s', [2, 3, 4])]));
});

const matMulCases: [string, number[], number[]][] = [
  ['batched × 2-D', [2, 3, 4], [4, 5]],
  ['broadcast batch dims', [2, 1, 3, 4], [3, 4, 2]],
  ['1-D × 2-D', [4], [4, 3]],
  ['2-D × 1-D', [3, 4], [4]],
  ['2-D × 2-D', [3, 4], [4, 2]],
];
for (const [name, aDims, cDims] of matMulCases) {
  test(`MatMul ${name}`, async () => {
    await check({ a: randomFeed(rng, aDims), c: randomFeed(rng, cDims) }, (b) => b.op('MatMul', ['a', 'c']));
  });
}

for (const transA of [0, 1]) {
  for (const transB of [0, 1]) {
    for (const cDims of [[4], [3, 4], [1, 1]]) {
      test(`Gemm transA=${transA} transB=${transB} C ${JSON.stringify(cDims)} alpha/beta`, async () => {
        const a = randomFeed(rng, transA ? [5, 3] : [3, 5]);
        const w = randomFeed(rng, transB ? [4, 5] : [5, 4]);
        const c = randomFeed(rng, cDims);
        await check({ a, w, c }, (b) => b.op('Gemm', ['a', 'w', 'c'], { transA: attr.i(transA), transB: attr.i(transB), alpha: attr.f(0.7), beta: attr.f(1.3) }));
      });
    }
  }
}

test('Gemm with initializer weights: d/dW, d/dC', async () => {
  await check({ a: randomFeed(rng, [2, 6]) }, (b) => {
    const w = b.initializer(floatTensor('W', [3, 6], Float32Array.from({ length: 18 }, () => rng.uniform(-1, 1))));
    const c = b.initializer(floatTensor('C', [3], [0.1, -0.2, 0.3]));
    return b.op('Gemm', ['a', w, c], { transB: attr.i(1) });
  }, ['W', 'C']);
});

const x = () => randomFeed(rng, [2, 3, 4, 5]);
const shapeCases: [string, (b: GraphBuilder) => string][] = [
  ['Flatten axis 2', (b) => b.op('Flatten', ['x'], { axis: attr.i(2) })],
  ['Reshape with -1', (b) => b.op('Reshape', ['x', b.constInt64('s', [6, -1])])],
  ['Transpose', (b) => b.op('Transpose', ['x'], { perm: attr.ints([2, 0, 3, 1]) })],
  ['Transpose default perm', (b) => b.op('Transpose', ['x'])],
  ['Unsqueeze (axes input)', (b) => b.op('Unsqueeze', ['x', b.constInt64('ax', [0, -1])])],
  ['Squeeze (axes input)', (b) => b.op('Squeeze', [b.op('Unsqueeze', ['x', b.constInt64('ax', [2])]), b.constInt64('ax2', [2])])],
  ['Concat axis 1 with itself and a transform', (b) => b.op('Concat', ['x', b.op('Exp', ['x']), 'x'], { axis: attr.i(1) })],
  ['Split (uneven, one output unused)', (b) => b.node('Split', ['x', b.constInt64('sp', [1, 3, 1])], { axis: attr.i(3) }, { outputs: 3 })[1]],
  ['Split (all outputs used)', (b) => {
    const [p, q] = b.node('Split', ['x'], { axis: attr.i(2) }, { outputs: 2 });
    return b.op('Mul', [p, q]);
  }],
  ['Slice steps 1, negative starts', (b) => b.op('Slice', ['x', b.constInt64('st', [-3, 1]), b.constInt64('en', [-1, 100]), b.constInt64('ax', [3, 2])])],
  ['Slice step 2 and step −1', (b) => b.op('Slice', ['x', b.constInt64('st', [0, -1]), b.constInt64('en', [100, -100]), b.constInt64('ax', [3, 2]), b.constInt64('sp', [2, -1])])],
  ['Slice step −2 and step 3', (b) => b.op('Slice', ['x', b.constInt64('st', [4, 1]), b.constInt64('en', [0, 5]), b.constInt64('ax', [3, 2]), b.constInt64('sp', [-2, 3])])],
  ['Pad constant (asymmetric, with value)', (b) => b.op('Pad', ['x', b.constInt64('p', [0, 1, 2, 0, 1, 0, 1, 3]), b.constFloat('v', 0.5, [])])],
  ['Pad with negative pads (crop)', (b) => b.op('Pad', ['x', b.constInt64('p', [0, 0, -1, 1, 0, 0, 1, -2])])],
  ['ReduceMean axes attribute, keepdims 0', (b) => b.op('ReduceMean', ['x'], { axes: attr.ints([1, -1]), keepdims: attr.i(0) })],
  ['ReduceSum axes input, keepdims 1', (b) => b.op('ReduceSum', ['x', b.constInt64('ax', [0, 2])])],
  ['ReduceSum all axes', (b) => b.op('ReduceSum', ['x'], { keepdims: attr.i(0) })],
  ['ReduceSumSquare', (b) => b.op('ReduceSumSquare', ['x'], { axes: attr.ints([2]) })],
  ['Softmax axis 1', (b) => b.op('Softmax', ['x'], { axis: attr.i(1) })],
  ['Softmax axis −1', (b) => b.op('Softmax', ['x'], { axis: attr.i(-1) })],
  ['LogSoftmax axis 1', (b) => b.op('LogSoftmax', ['x'], { axis: attr.i(1) })],
  ['LogSoftmax axis −1', (b) => b.op('LogSoftmax', ['x'])],
];
for (const [name, build] of shapeCases) {
  test(name, async () => {
    await check({ x: x() }, build);
  });
}

test('Reshape target from a Shape/Gather/Unsqueeze/Concat chain (no gradient through integers)', async () => {
  await check({ x: x() }, (b) => {
    const n = b.op('Gather', [b.op('Shape', ['x']), b.constInt64('zero', [0], [])], { axis: attr.i(0) });
    const target = b.op('Concat', [b.op('Unsqueeze', [n, b.constInt64('ax', [0])]), b.constInt64('m1', [-1])], { axis: attr.i(0) });
    const ones = b.op('ConstantOfShape', [b.op('Shape', [b.op('Reshape', ['x', target])])], { value: attr.t(floatTensor('one', [1], [2])) });
    return b.op('Mul', [b.op('Reshape', ['x', target]), ones]);
  });
});

test('a tensor used by several consumers accumulates gradients', async () => {
  await check({ x: randomFeed(rng, [3, 4], -1, 1, [0]) }, (b) => {
    const sq = b.op('Mul', ['x', 'x']);
    const r = b.op('Relu', ['x']);
    return b.op('Add', [b.op('Add', [sq, r]), b.op('Sigmoid', [sq])]);
  });
});

