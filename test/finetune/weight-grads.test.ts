/**
 * Weight gradients as fine-tuning uses them, vs central finite differences. test/autodiff checks every rule with
 * the input always in `wrt`; here the parameters are differentiated ALONE (the input is data, so the rules'
 * input-gradient branches are off and the engine prunes them), parameters are initializers lifted to inputs,
 * and whole networks are checked along random directions in all their parameters at once — including the
 * batch-statistics BatchNormalization used when training from scratch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../src/onnx/graph.js';
import type { Attribute, Model } from '../../src/onnx/types.js';
import { attr, floatTensor, tensorSize } from '../../src/onnx/types.js';
import { buildGradientModel } from '../../src/autodiff/index.js';
import { buildArchitecture } from '../../src/models/builders/index.js';
import { Rng } from '../../src/util/rng.js';
import { batchStatisticsForm } from '../../src/train/finetune/network.js';
import { parameterLayers } from '../../src/train/finetune/params.js';
import type { Feed } from '../autodiff/fd.js';
import { checkDirectional, checkGradients, feedsAwayFromKinks, opGraph, randomFeed } from '../autodiff/fd.js';

const rng = new Rng(2024);

function param(b: GraphBuilder, name: string, dims: number[], scale = 0.5): string {
  return b.initializer(floatTensor(name, dims, Float32Array.from({ length: tensorSize(dims) }, () => rng.uniform(-scale, scale))));
}

/** d objective / d params only (x is a fixed input). */
async function checkParams(x: Feed, build: (b: GraphBuilder) => string, params: string[]): Promise<void> {
  const { model, objective } = opGraph({ x: x.dims }, build);
  await checkGradients(model, { objective, wrt: params, feeds: { x } });
}

const convCases: [string, number[], number[], Record<string, Attribute>][] = [
  ['groups 1, pads 1', [2, 3, 6, 6], [4, 3, 3, 3], { pads: attr.ints([1, 1, 1, 1]) }],
  ['groups 2', [1, 4, 5, 5], [6, 2, 3, 3], { group: attr.i(2), pads: attr.ints([1, 1, 1, 1]) }],
  ['depthwise', [2, 3, 5, 5], [3, 1, 3, 3], { group: attr.i(3), pads: attr.ints([1, 1, 1, 1]) }],
  ['stride 2, even input', [2, 2, 8, 8], [3, 2, 3, 3], { strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) }],
  ['depthwise stride 2', [1, 4, 7, 7], [4, 1, 3, 3], { group: attr.i(4), strides: attr.ints([2, 2]), pads: attr.ints([0, 0, 1, 1]) }],
  ['1×1 pointwise (batched-MatMul weight gradient)', [2, 4, 3, 5], [6, 4, 1, 1], {}],
  ['1×1 stride 2 (ResNet downsample)', [2, 4, 6, 6], [6, 4, 1, 1], { strides: attr.ints([2, 2]) }],
];
for (const [name, xDims, wDims, attrs] of convCases) {
  test(`Conv ${name}: d/dW and d/dB with the input frozen`, async () => {
    await checkParams(randomFeed(rng, xDims), (b) => b.op('Conv', ['x', param(b, 'W', wDims), param(b, 'B', [wDims[0]])], attrs), ['W', 'B']);
  });
}

test('depthwise Conv: every weight-gradient form (GRAFT_DW) agrees with finite differences', async () => {
  const cases: [number[], Record<string, Attribute>][] = [
    [[2, 3, 6, 6], { group: attr.i(3), pads: attr.ints([1, 1, 1, 1]) }],
    [[1, 4, 7, 7], { group: attr.i(4), strides: attr.ints([2, 2]), pads: attr.ints([0, 0, 1, 1]) }],
    [[2, 2, 7, 6], { group: attr.i(2), dilations: attr.ints([2, 1]), pads: attr.ints([2, 1, 1, 0]) }],
  ];
  const saved = process.env.GRAFT_DW;
  try {
    for (const form of ['depthwise', 'depthwise-im2col', 'depthwise-tapsum', 'depthwise-conv']) {
      process.env.GRAFT_DW = form;
      for (const [xDims, attrs] of cases) {
        const c = xDims[1];
        await checkParams(randomFeed(rng, xDims), (b) => b.op('Conv', ['x', param(b, 'W', [c, 1, 3, 3])], attrs), ['W']);
      }
    }
  } finally {
    if (saved === undefined) delete process.env.GRAFT_DW;
    else process.env.GRAFT_DW = saved;
  }
});

test('ungrouped Conv: the per-tap and the im2col weight gradients (GRAFT_DW) agree with finite differences', async () => {
  const cases: [number[], number[], Record<string, Attribute>][] = [
    [[2, 3, 6, 6], [4, 3, 3, 3], { pads: attr.ints([1, 1, 1, 1]) }],
    [[2, 2, 9, 8], [3, 2, 3, 2], { strides: attr.ints([2, 2]), pads: attr.ints([1, 0, 0, 1]), dilations: attr.ints([1, 2]) }],
    [[1, 4, 6, 6], [5, 4, 1, 1], { strides: attr.ints([2, 2]) }],
  ];
  const saved = process.env.GRAFT_DW;
  try {
    for (const form of ['tapwise', 'im2col']) {
      process.env.GRAFT_DW = form;
      for (const [xDims, wDims, attrs] of cases) {
        await checkParams(randomFeed(rng, xDims), (b) => b.op('Conv', ['x', param(b, 'W', wDims)], attrs), ['W']);
      }
    }
  } finally {
    if (saved === undefined) delete process.env.GRAFT_DW;
    else process.env.GRAFT_DW = saved;
  }
});

test('ConvTranspose stride 2, groups 1: d/dW and d/dB with the input frozen', async () => {
  const attrs = { strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]), output_padding: attr.ints([1, 1]) };
  await checkParams(randomFeed(rng, [2, 3, 4, 4]), (b) => b.op('ConvTranspose', ['x', param(b, 'W', [3, 2, 3, 3]), param(b, 'B', [2])], attrs), ['W', 'B']);
});

for (const transA of [0, 1]) {
  for (const transB of [0, 1]) {
    for (const cDims of [[4], [1, 4], [3, 1], []]) {
      test(`Gemm transA=${transA} transB=${transB}, bias ${JSON.stringify(cDims)}: d/dW, d/dC (initializers)`, async () => {
        await checkParams(randomFeed(rng, transA ? [5, 3] : [3, 5]), (b) => {
          const w = param(b, 'W', transB ? [4, 5] : [5, 4]);
          const c = b.initializer(floatTensor('C', cDims, Float32Array.from({ length: tensorSize(cDims) }, () => rng.uniform(-1, 1))));
          return b.op('Gemm', ['x', w, c], { transA: attr.i(transA), transB: attr.i(transB), alpha: attr.f(0.8), beta: attr.f(1.5) });
        }, ['W', 'C']);
      });
    }
  }
}

test('MatMul [N,T,D] × W[D,E] and W[E,T] × [N,T,D]: d/dW of batched products', async () => {
  await checkParams(randomFeed(rng, [2, 3, 4]), (b) => b.op('MatMul', ['x', param(b, 'W', [4, 5])]), ['W']);
  await checkParams(randomFeed(rng, [2, 3, 4]), (b) => b.op('MatMul', [param(b, 'V', [5, 3]), 'x']), ['V']);
});

for (const [name, xDims] of [['NCHW', [2, 3, 4, 4]], ['[N, C]', [5, 3]]] as const) {
  test(`BatchNormalization ${name} inference form: d/dγ, d/dβ; running statistics are not parameters`, async () => {
    const build = (b: GraphBuilder) => b.op('BatchNormalization', ['x', param(b, 'gamma', [3]), param(b, 'beta', [3]), param(b, 'mean', [3]),
      b.initializer(floatTensor('var', [3], [0.4, 1.3, 2.2]))], { epsilon: attr.f(1e-3) });
    await checkParams(randomFeed(rng, [...xDims]), build, ['gamma', 'beta']);
    const { model } = opGraph({ x: [...xDims] }, build);
    assert.deepEqual(parameterLayers(model.graph).filter((l) => l.node.opType === 'BatchNormalization').flatMap((l) => l.params), ['gamma', 'beta']);
  });
}

const broadcastParams: [string, number[]][] = [['[1,C,1,1]', [1, 3, 1, 1]], ['[C,1,1]', [3, 1, 1]], ['[W]', [5]], ['[1,1,H,1]', [1, 1, 4, 1]]];
for (const op of ['Add', 'Mul']) {
  for (const [name, dims] of broadcastParams) {
    test(`${op} with a broadcast ${name} parameter: d/dp sums over the broadcast axes`, async () => {
      await checkParams(randomFeed(rng, [2, 3, 4, 5]), (b) => b.op(op, ['x', param(b, 'p', dims)]), ['p']);
    });
  }
}

function convBnRelu(b: GraphBuilder, x: string, name: string, cin: number, cout: number, stride = 1): string {
  const conv = b.op('Conv', [x, param(b, `${name}.W`, [cout, cin, 3, 3], Math.sqrt(6 / (9 * cin)))], { pads: attr.ints([1, 1, 1, 1]), strides: attr.ints([stride, stride]) }, `${name}.conv`);
  const bn = b.op('BatchNormalization', [conv,
    b.initializer(floatTensor(`${name}.gamma`, [cout], Float32Array.from({ length: cout }, () => rng.uniform(0.5, 1.5)))),
    param(b, `${name}.beta`, [cout], 0.1), param(b, `${name}.mean`, [cout], 0.1),
    b.initializer(floatTensor(`${name}.var`, [cout], Float32Array.from({ length: cout }, () => rng.uniform(0.5, 1.5))))], {}, `${name}.bn`);
  return b.op('Relu', [bn]);
}

function twoBlockNet(b: GraphBuilder): string {
  let x = 'x';
  [[3, 6], [6, 8]].forEach(([cin, cout], i) => {
    x = b.op('MaxPool', [convBnRelu(b, x, `block${i}`, cin, cout)], { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) });
  });
  return b.op('Gemm', [b.op('Flatten', [b.op('GlobalAveragePool', [x])]), param(b, 'fc.W', [4, 8]), param(b, 'fc.B', [4], 0.1)], { transB: attr.i(1) });
}

function residualNet(b: GraphBuilder): string {
  const stem = convBnRelu(b, 'x', 'stem', 3, 6, 2);
  const branch = convBnRelu(b, stem, 'res.a', 6, 6);
  const conv = b.op('Conv', [branch, param(b, 'res.b.W', [6, 6, 3, 3], 0.2), param(b, 'res.b.B', [6], 0.1)], { pads: attr.ints([1, 1, 1, 1]) });
  const sum = b.op('Relu', [b.op('Add', [conv, stem])]);
  return b.op('Gemm', [b.op('Flatten', [b.op('GlobalAveragePool', [sum])]), param(b, 'fc.W', [3, 6]), param(b, 'fc.B', [3], 0.1)], { transB: attr.i(1) });
}

const allParams = (model: Model) => parameterLayers(model.graph).flatMap((l) => l.params);

for (const [name, build] of [['conv-BN-ReLU-maxpool ×2 → GAP → Gemm', twoBlockNet], ['residual block', residualNet]] as const) {
  test(`${name}: all parameters along random directions`, async () => {
    const { model, objective } = opGraph({ x: [2, 3, 16, 16] }, build);
    const params = allParams(model);
    assert.ok(params.length >= 7 && !params.some((p) => p.endsWith('.mean') || p.endsWith('.var')));
    const feeds = feedsAwayFromKinks(model, objective, () => ({ x: randomFeed(rng, [2, 3, 16, 16]) }));
    await checkDirectional(model, { objective, wrt: params, feeds, directions: 3 });
  });
}

test('scratch CNN at 32 px (builder): all 14 parameter tensors along random directions', async () => {
  const built = buildArchitecture('scratch_cnn', { classes: 3, seed: 5, inputSize: 32 });
  const params = allParams(built.model);
  // One image: 118,784 ReLU inputs and 29,696 max windows per image make a point 1e-5 from every kink rare
  // enough at batch 2 (~2 % of draws) that finding one would take seconds; at batch 1 it is ~1 in 8 draws.
  const { model, objective } = withObjective(built.model, 'logits', [1, 3]);
  assert.equal(params.length, 14);
  const feeds = feedsAwayFromKinks(model, objective, () => ({ input: randomFeed(rng, [1, 3, 32, 32]) }));
  await checkDirectional(model, { objective, wrt: params, feeds, directions: 2 });
});

test('batch-statistics BatchNormalization (training from scratch): d/dx, d/dγ, d/dβ through the batch mean and variance', async () => {
  const { model, objective } = opGraph({ x: [3, 2, 3, 3] }, (b) => {
    const bn = b.op('BatchNormalization', ['x', param(b, 'gamma', [2]), param(b, 'beta', [2]), param(b, 'mean', [2]), b.initializer(floatTensor('var', [2], [1, 2]))]);
    return b.op('Mul', [bn, bn]);
  });
  const { model: trainForm, states } = batchStatisticsForm(model, new Set(['gamma']));
  assert.equal(states.length, 1);
  assert.ok(!trainForm.graph.nodes.some((n) => n.opType === 'BatchNormalization'));
  await checkGradients(trainForm, { objective, wrt: ['x', 'gamma', 'beta'], feeds: { x: randomFeed(rng, [3, 2, 3, 3], -2, 2) } });
  // The backward is the closed form (src/autodiff/batchstats.ts), not the ops differentiated one by one.
  const backward = buildGradientModel(trainForm, { objective, wrt: ['x', 'gamma', 'beta'], inputShapes: { x: [3, 2, 3, 3] } }).model.graph.nodes;
  assert.equal(backward.filter((n) => n.name.startsWith('bn_dX')).length, 1);
  assert.ok(!backward.some((n) => n.opType === 'Neg'), 'the batch mean is not differentiated op by op');
});

test('batch-statistics BatchNormalization with the running statistics as outputs and only γ, β trained', async () => {
  const { model, objective } = opGraph({ x: [4, 3, 2, 2] }, (b) => {
    const bn = b.op('BatchNormalization', ['x', param(b, 'gamma', [3]), param(b, 'beta', [3]), param(b, 'mean', [3]), b.initializer(floatTensor('var', [3], [1, 2, 3]))]);
    return b.op('Mul', [bn, bn]);
  });
  const { model: trainForm, states } = batchStatisticsForm(model, new Set(['gamma']));
  const keepOutputs = states.flatMap((s) => [s.batchMean, s.batchVar]);
  await checkGradients(trainForm, { objective, wrt: ['gamma', 'beta'], feeds: { x: randomFeed(rng, [4, 3, 2, 2], -2, 2) } });
  const backward = buildGradientModel(trainForm, { objective, wrt: ['gamma', 'beta'], inputShapes: { x: [4, 3, 2, 2] }, keepOutputs }).model.graph;
  assert.ok(!backward.nodes.some((n) => n.name.startsWith('bn_dX')), 'no input gradient when x is data');
  assert.ok(keepOutputs.every((o) => backward.outputs.some((out) => out.name === o)));
});

test('the backward graph covers only the unfrozen part: training the head alone adds no convolution', () => {
  const { model, objective } = opGraph({ x: [2, 3, 16, 16] }, twoBlockNet);
  // Gradient rules name their nodes <forward node>/dX (input gradient) and <forward node>/dW… (weight gradient).
  const roles = (wrt: string[]) => {
    const nodes = buildGradientModel(model, { objective, wrt, inputShapes: { x: [2, 3, 16, 16] } }).model.graph.nodes;
    return {
      forwardConvs: nodes.filter((n) => n.opType.startsWith('Conv') && !n.name.includes('/d')).length,
      inputGrads: nodes.filter((n) => n.name.endsWith('/dX')).length,
      weightGrads: new Set(nodes.filter((n) => n.name.includes('/dW')).map((n) => n.name.split('/dW')[0])).size,
    };
  };
  assert.deepEqual(roles(['fc.W', 'fc.B']), { forwardConvs: 2, inputGrads: 0, weightGrads: 0 }, 'forward convolutions only');
  assert.deepEqual(roles(['block1.W', 'fc.W']), { forwardConvs: 2, inputGrads: 0, weightGrads: 1 }, 'one weight gradient, no input gradient below block1');
  assert.deepEqual(roles(['block0.W', 'fc.W']), { forwardConvs: 2, inputGrads: 1, weightGrads: 1 }, 'block0 weight grad + block1 input grad');
});

/** The model with objective Σ R ⊙ tensor (R fixed random) appended as its only output. */
function withObjective(model: Model, tensor: string, dims: number[]): { model: Model; objective: string } {
  const g = { ...model.graph, nodes: [...model.graph.nodes], initializers: new Map(model.graph.initializers), outputs: [] as Model['graph']['outputs'] };
  const b = new GraphBuilder(g);
  const r = b.initializer(floatTensor('R', dims, Float32Array.from({ length: tensorSize(dims) }, () => rng.uniform(-1, 1))));
  const objective = b.op('ReduceSum', [b.op('Mul', [tensor, r])], { keepdims: attr.i(0) }, 'objective');
  b.output(objective, 'float32', []);
  return { model: { ...model, graph: g }, objective };
}
