import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GraphBuilder } from '../../src/onnx/graph.js';
import { emptyGraph, newModel } from '../../src/onnx/types.js';
import { Session, asFloat32, float32 } from '../../src/runtime/session.js';
import { GradientRunner } from '../../src/autodiff/index.js';
import { loadModel } from '../../src/models/load.js';
import { softmaxRows } from '../../src/math/rows.js';
import { Rng } from '../../src/util/rng.js';
import { absoluteTotalVariation } from '../../src/viz/dream/objective/total-variation.js';
import { classObjective } from '../../src/viz/dream/objective/class-probability.js';
import { channelObjective } from '../../src/viz/dream/objective/channel-mean.js';
import { DreamProblem } from '../../src/viz/dream/problem.js';
import { PixelParam } from '../../src/viz/dream/param/pixel.js';
import { FourierParam } from '../../src/viz/dream/param/fourier.js';
import type { ImageParam } from '../../src/viz/dream/param/param.js';
import { jitter } from '../../src/viz/dream/transform/jitter.js';
import { randomScale } from '../../src/viz/dream/transform/scale.js';
import { randomRotate } from '../../src/viz/dream/transform/rotate.js';
import { drawAll } from '../../src/viz/dream/transform/transform.js';
import { dream } from '../../src/viz/dream/dream.js';
import { toTensor } from '../../src/image/layout.js';
import { sharedModels } from '../helpers/paths.js';
import { TINY_PRE, tinyModel } from './tiny-model.js';

process.env.GRAFT_MODELS ??= sharedModels;

test('total variation: value = Σ|vertical differences| + Σ|horizontal differences|, gradient = the sign formula (both layouts)', async () => {
  const rng = new Rng(1);
  for (const layout of ['NCHW', 'NHWC'] as const) {
    const dims = layout === 'NCHW' ? [2, 3, 5, 6] : [2, 5, 6, 3];
    const g = emptyGraph('tv');
    new GraphBuilder(g).input('x', 'float32', dims);
    const x = Float32Array.from({ length: 180 }, () => rng.normal());
    const runner = await GradientRunner.create(newModel(g, 17), (b) => absoluteTotalVariation(b, 'x', layout), { wrt: ['x'], inputShapes: { x: dims } });
    const { objective, grads } = await runner.run({ x: float32(x, dims) });
    await runner.release();
    const index = (n: number, c: number, y: number, xx: number) => (layout === 'NCHW' ? ((n * 3 + c) * 5 + y) * 6 + xx : ((n * 5 + y) * 6 + xx) * 3 + c);
    let expected = 0;
    const grad = new Float64Array(180);
    const pair = (a: number, b: number) => {
      expected += Math.abs(x[a] - x[b]);
      grad[a] += Math.sign(x[a] - x[b]);
      grad[b] -= Math.sign(x[a] - x[b]);
    };
    for (let n = 0; n < 2; n++) for (let c = 0; c < 3; c++) for (let y = 0; y < 5; y++) for (let xx = 0; xx < 6; xx++) {
      if (y + 1 < 5) pair(index(n, c, y + 1, xx), index(n, c, y, xx));
      if (xx + 1 < 6) pair(index(n, c, y, xx + 1), index(n, c, y, xx));
    }
    assert.ok(Math.abs(objective - expected) < 1e-3, `${layout}: ${objective} vs ${expected}`);
    grad.forEach((v, i) => assert.ok(Math.abs(grads.x[i] - v) < 1e-5, `${layout} grad[${i}]: ${grads.x[i]} vs ${v}`));
  }
});

/** Central difference of the loss along a random direction vs the chained gradient, with the transforms' draw fixed. */
async function checkChainGradient(problem: DreamProblem, param: ImageParam, transforms: Parameters<typeof drawAll>[0], seed: number, eps: number): Promise<void> {
  const draw = () => drawAll(transforms, new Rng(seed));
  const e = await problem.evaluate(param, draw());
  const rng = new Rng(seed + 100);
  const dir = Float32Array.from({ length: param.params.length }, () => rng.normal());
  const base = Float32Array.from(param.params);
  param.params.set(base.map((v, i) => v + eps * dir[i]));
  const up = (await problem.evaluate(param, draw())).loss;
  param.params.set(base.map((v, i) => v - eps * dir[i]));
  const down = (await problem.evaluate(param, draw())).loss;
  param.params.set(base);
  const fd = (up - down) / (2 * eps);
  const analytic = e.grad.reduce((s, g, i) => s + g * dir[i], 0);
  assert.ok(Math.abs(fd - analytic) < 0.03 * Math.abs(analytic) + 1e-3, `fd ${fd} vs analytic ${analytic}`);
}

test('dream gradient through jitter + scale + rotate matches finite differences (pixel and Fourier parameterisations)', async () => {
  const m = tinyModel(4, 'Tanh');
  const transforms = [randomScale(), randomRotate(), jitter(2)];
  // TV's |·| has kinks that central differences straddle; its gradient is checked against the sign formula below.
  const problem = await DreamProblem.create(m, classObjective(m, 2, 3));
  try {
    const rng = new Rng(5);
    for (let seed = 0; seed < 3; seed++) {
      await checkChainGradient(problem, PixelParam.noise(TINY_PRE, 12, 12, rng), transforms, seed, 1e-3);
      await checkChainGradient(problem, FourierParam.noise(TINY_PRE, 12, 12, rng), transforms, seed, 1e-3);
    }
  } finally {
    await problem.release();
  }
});

test('channel objective: loss is minus the mean of the chosen channel', async () => {
  const m = tinyModel(6, 'Tanh');
  const problem = await DreamProblem.create(m, channelObjective(m.model.graph, m.taps.lastConv, 1));
  const featureSession = await Session.create({ ...m.model, graph: { ...m.model.graph, outputs: [{ name: m.taps.lastConv, dtype: 'float32' }] } });
  try {
    const rng = new Rng(7);
    const x = Float32Array.from({ length: 192 }, () => rng.normal());
    const { loss } = await problem.runTensor(x);
    const fmap = asFloat32(Object.values(await featureSession.run({ input: float32(x, [1, 3, 8, 8]) }))[0]);
    const mean = fmap.slice(64, 128).reduce((s, v) => s + v, 0) / 64;
    assert.ok(Math.abs(loss + mean) < 1e-5, `${loss} vs −${mean}`);
  } finally {
    await problem.release();
    await featureSession.release();
  }
});

test('dream on a tiny model: seeded and deterministic, target probability rises', async () => {
  const m = tinyModel(8, 'Tanh');
  const opts = { class: 3, steps: 40, lr: 0.05, jitter: 1, scale: true, rotate: true, seed: 11 };
  const a = await dream(m, opts);
  const b = await dream(m, opts);
  assert.deepEqual(a.history, b.history);
  assert.deepEqual(a.image.data, b.image.data);
  const c = await dream(m, { ...opts, seed: 12 });
  assert.notDeepEqual(a.history, c.history);
  // Random transforms make single steps noisy; the trend must still rise.
  const p = a.history.map((h) => h.probability);
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  assert.ok(mean(p.slice(-10)) > mean(p.slice(0, 10)) + 0.15, `p ${p[0]} → ${p.at(-1)}`);
  // Without transforms, small plain gradient steps raise it at every step.
  const plain = (await dream(m, { ...opts, jitter: 0, scale: false, rotate: false })).history.map((h) => h.probability);
  plain.slice(1).forEach((v, i) => assert.ok(v >= plain[i] - 1e-4, `step ${i + 2}: ${plain[i]} → ${v}`));
  // The reported probability is that of the returned 8-bit image.
  const problem = await DreamProblem.create(m, classObjective(m, 3));
  const probs = softmaxRows((await problem.runTensor(toTensor(a.image, m.preprocess))).logits, 1);
  await problem.release();
  assert.ok(Math.abs(probs[3] - a.probability) < 1e-6);
});

test('a short real dream (30 steps, default settings) raises p(tabby cat) on MobileNet v1', async () => {
  const m = await loadModel('mobilenet_v1_0.75');
  const r = await dream(m, { class: 'tabby cat', steps: 30 });
  assert.equal(r.class, 281);
  assert.ok(r.history[0].probability < 0.05, `start p ${r.history[0].probability}`);
  assert.ok(r.probability > 0.5, `final p ${r.probability}`);
});
