/**
 * Attacks on the default model (mobilenet_v1_0.75) with real photos: the loss gradient against finite
 * differences, FGSM against the runner's gradient, PGD's ε-ball and pixel range checked on the saved PNG,
 * a targeted cat → dog flip after the PNG round trip, the transfer report, and robustness vs ε.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  LossGradient, classifyCrops, cropToPixels, fgsm, fgsmStep, l2Distance, pgd, pixelsToCrop, rereadPng, robustness, setLoss,
} from '../../src/attack/index.js';
import { decodeImage } from '../../src/image/decode.js';
import { savePng } from '../../src/image/encode.js';
import { loadImageRgbCropped } from '../../src/image/preprocess.js';
import { argmax } from '../../src/math/rows.js';
import { classify } from '../../src/predict/classify.js';
import { loadModel, type GraftModel } from '../../src/models/load.js';
import { graft } from '../helpers/cli.js';
import { referenceDirectional } from '../autodiff/fd.js';
import { GraphBuilder } from '../../src/onnx/graph.js';
import { attr, type Model } from '../../src/onnx/types.js';
import { float32 } from '../../src/runtime/session.js';
import { batchDims } from '../../src/image/layout.js';
import { catsDogs, sharedModels } from '../helpers/paths.js';

const have = fs.existsSync(path.join(sharedModels, 'mobilenet_v1_0.75_224', 'model.json')) && fs.existsSync(catsDogs);
const skip = !have && 'shared model or dataset missing';
const cat = path.join(catsDogs, 'validation', 'cats', 'cat.2000.jpg');
const dog = path.join(catsDogs, 'validation', 'dogs', 'dog.2000.jpg');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-attack-test-'));
let m: GraftModel;
let lg: LossGradient;

before(async () => {
  if (!have) return;
  process.env.GRAFT_MODELS = sharedModels;
  m = await loadModel('mobilenet_v1_0.75');
  lg = await LossGradient.create(m, 1);
});
after(async () => {
  await lg?.release();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('loss gradient: −log p(set) matches the model output and a finite difference in pixel units', { skip }, async () => {
  const x0 = cropToPixels(await loadImageRgbCropped(cat, m.preprocess), m.preprocess);
  const cats = [281, 282, 283, 284, 285];
  const r = await lg.run([x0], [cats], [283]);
  const [probs] = await classifyCrops(m, [pixelsToCrop(x0, m.preprocess)]);
  const mass = cats.reduce((s, c) => s + probs[c], 0);
  assert.ok(Math.abs(r.losses[0] + Math.log(mass)) < 1e-3, `loss ${r.losses[0]} vs −log ${mass}`);
  assert.ok(Math.abs(setLoss(r.logits[0], cats) - r.losses[0]) < 1e-12);
  // The directional derivative along the gradient, by central differences in float64 through the reference
  // interpreter at a point checked to be away from every ReLU6 kink (never float32 differences across a kink).
  const g = r.grads[0];
  const norm = Math.sqrt(g.reduce((s, v) => s + v * v, 0));
  const { model, objective } = setLossModel(m, cats);
  const input = float32(Float32Array.from(x0, (v, i) => (v / 255 - m.preprocess.mean[channelOf(i, m)]) / m.preprocess.std[channelOf(i, m)]), batchDims(1, m.preprocess));
  const direction = pixelDirectionToInput(g.map((v) => v / norm), m);
  const { numeric, kinks } = referenceDirectional(model, { [m.inputName]: input }, r.losses[0], { [m.inputName]: direction });
  assert.ok(Math.abs(numeric - norm) <= 1e-3 * norm, `directional derivative ${norm} vs float64 reference ${numeric} (${kinks}; objective ${objective})`);
});

test('FGSM = clip(x0 + ε·sign(∇L)) with the gradient from the runner (untargeted, ε = 4)', { skip }, async () => {
  const x0 = cropToPixels(await loadImageRgbCropped(dog, m.preprocess), m.preprocess);
  const label = argmax((await lg.run([x0], [[0]])).logits[0]);
  const { grads } = await lg.run([x0], [[label]]);
  const expected = fgsmStep(x0, grads[0], 'linf', 4, 1).map((v) => Math.min(255, Math.max(0, v)));
  const r = await fgsm(lg, [x0], { targeted: false, sets: [[label]] }, { eps: 4 });
  assert.deepEqual(Array.from(r.adversarial[0]), Array.from(expected));
  assert.ok(grads[0].some((v) => v > 0) && grads[0].some((v) => v < 0));
});

test('PGD L2 stays in the ε-ball and the pixel range, checked on the saved PNG', { skip }, async () => {
  const crop = await loadImageRgbCropped(dog, m.preprocess);
  const x0 = cropToPixels(crop, m.preprocess);
  const eps = 120;
  const r = await pgd(lg, [x0], { targeted: true, sets: [[281]] }, { norm: 'l2', eps, stepSize: 40, steps: 4, refineSteps: 2 });
  const file = path.join(tmp, 'l2.png');
  await savePng(pixelsToCrop(r.adversarial[0], m.preprocess), file);
  const back = await decodeImage(file);
  const d = l2Distance(back.data, crop.data);
  assert.ok(d <= eps && d > eps / 2, `‖δ‖₂ on the PNG = ${d}`);
});

test('targeted PGD ε = 8 flips a cat photo to a dog class after the PNG round trip; transfer report', { skip }, async () => {
  const out = path.join(tmp, 'adv.png');
  const compare = path.join(tmp, 'compare.png');
  const r = graft(['attack', cat, '--target', 'golden retriever', '--method', 'pgd', '--eps', '8', '--out', out, '--compare', compare, '--transfer-to', 'darknet_tiny', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.original.index, 281, 'the photo is a tabby cat to begin with');
  assert.equal(report.adversarial.index, 207);
  // Independently: read the PNG, compare with the crop, classify it through the normal pipeline.
  const crop = await loadImageRgbCropped(cat, m.preprocess);
  const png = await decodeImage(out);
  assert.deepEqual([png.width, png.height], [224, 224]);
  let linf = 0;
  png.data.forEach((v, i) => { linf = Math.max(linf, Math.abs(v - crop.data[i])); });
  assert.ok(linf <= 8 && linf === report.linf, `L∞ ${linf} vs report ${report.linf}`);
  assert.ok(Math.abs(l2Distance(png.data, crop.data) - report.l2) < 1e-9);
  const [viaClassify] = await classify(m, [out], { top: 1 });
  assert.equal(viaClassify.predictions[0].index, 207);
  assert.ok(Math.abs(viaClassify.predictions[0].probability - report.adversarial.probability) < 1e-4);
  // The transfer block is what darknet_tiny says about the same PNG.
  const darknet = await loadModel('darknet_tiny');
  const [onPng] = await classify(darknet, [out], { top: 1 });
  assert.equal(report.transfer.model, 'darknet_tiny');
  assert.equal(report.transfer.index, onPng.predictions[0].index);
  assert.equal(report.transfer.fooled, onPng.predictions[0].index === 207);
  const side = await decodeImage(compare);
  assert.deepEqual([side.width, side.height], [3 * 224 + 8, 224]);
  const reread = await rereadPng(m, out, png);
  assert.equal(reread.reread, 'preprocess', "the model's own preprocessing reproduces the 224×224 crop");
});

test('untargeted robustness: accuracy does not increase with ε; ε = 0 is the clean accuracy', { skip }, async () => {
  const report = await robustness(m, catsDogs, { eps: [0, 1, 8], settings: { method: 'pgd', norm: 'linf', steps: 5 }, limit: 4, batchSize: 4 });
  assert.equal(report.n, 4);
  assert.equal(report.mode, 'map');
  const files = [0, 1].flatMap((k) => [path.join(catsDogs, 'validation', 'cats', `cat.${2000 + k}.jpg`), path.join(catsDogs, 'validation', 'dogs', `dog.${2000 + k}.jpg`)]);
  const clean = await classify(m, files, { top: 1 });
  const correct = clean.filter((c, i) => {
    const p = c.predictions[0].index;
    return i % 2 === 0 ? p >= 281 && p <= 285 : p >= 151 && p <= 268;
  }).length;
  assert.equal(report.accuracy[0], correct / 4);
  for (let i = 1; i < report.eps.length; i++) assert.ok(report.accuracy[i] <= report.accuracy[i - 1], `accuracy ${report.accuracy}`);
  assert.equal(report.accuracy[2], 0, 'ε = 8 PGD fools every image');
});

/** Network-input channel of element i of a pixel vector in the model's tensor layout. */
function channelOf(i: number, m: GraftModel): number {
  const [h, w] = m.preprocess.size;
  return m.preprocess.layout === 'NHWC' ? i % 3 : Math.floor(i / (h * w));
}

/** A pixel-unit direction as a direction of the network input: value = (pixel/255 − mean_c)/std_c is affine. */
function pixelDirectionToInput(u: ArrayLike<number>, m: GraftModel): Float64Array {
  return Float64Array.from(u, (v, i) => v / (255 * m.preprocess.std[channelOf(i, m)]));
}

/** The model (a copy; m is untouched) with output `objective` = −log Σ_{c ∈ set} p_c, the attack's set loss. */
function setLossModel(m: GraftModel, set: number[]): { model: Model; objective: string } {
  const g = m.model.graph;
  const graph = { ...g, nodes: [...g.nodes], initializers: new Map(g.initializers), inputs: [...g.inputs], outputs: [], valueInfo: [...g.valueInfo] };
  const b = new GraphBuilder(graph);
  const probs = m.output === 'probabilities' ? m.outputName : b.op('Softmax', [m.outputName], { axis: attr.i(-1) });
  const idx = b.initializer({ name: b.name('set'), dtype: 'int64', dims: [set.length], data: BigInt64Array.from(set.map(BigInt)) });
  const mass = b.op('ReduceSum', [b.op('Gather', [probs, idx], { axis: attr.i(1) })], { keepdims: attr.i(0) });
  const objective = b.op('Neg', [b.op('Log', [mass])], {}, 'objective');
  b.output(objective, 'float32', []);
  return { model: { ...m.model, graph }, objective };
}
