import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import '../../src/runtime/no-telemetry.js';
import ort from 'onnxruntime-node';
import { trainClassifier } from '../../src/train/frozen-backbone.js';
import { loadClassifier } from '../../src/predict/saved.js';
import { classify } from '../../src/predict/classify.js';
import { withTta } from '../../src/predict/tta.js';
import { imageToTensor } from '../../src/image/preprocess.js';
import { readModel } from '../../src/onnx/codec.js';
import type { StackingSummary } from '../../src/train/stacking.js';
import { catsDogs, sharedModels } from '../helpers/paths.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-multi-'));
const data = path.join(work, 'pets');
const image = path.join(catsDogs, 'validation', 'dogs', 'dog.2003.jpg');
const mirrored = path.join(work, 'mirrored.png');

before(async () => {
  process.env.GRAFT_MODELS = sharedModels;
  process.env.GRAFT_CACHE = path.join(work, 'cache');
  for (const cls of ['cats', 'dogs']) {
    fs.mkdirSync(path.join(data, cls), { recursive: true });
    for (let i = 0; i < 10; i++) {
      const name = `${cls.slice(0, 3)}.${200 + i}.jpg`;
      fs.copyFileSync(path.join(catsDogs, 'train', cls, name), path.join(data, cls, name));
    }
  }
  await sharp(image).flop().png().toFile(mirrored);
});

test('two backbones in one exported file over raw pixels; TTA baked in equals TTA applied at predict time', async () => {
  const plainOut = path.join(work, 'plain');
  const ttaOut = path.join(work, 'tta');
  const models = 'mobilenet_v1_0.75,darknet_tiny';
  const r1 = await trainClassifier(data, { model: models, out: plainOut, plots: false, cvFolds: 3, seed: 1 });
  const r2 = await trainClassifier(data, { model: models, out: ttaOut, plots: false, cvFolds: 3, seed: 1, tta: 'flip' });
  assert.deepEqual(r1.selected.backbones.map((b) => b.featureDim), [768, 1000]);
  assert.equal(r2.selected.tta, 'flip');
  assert.equal(r1.selected.regularisation?.weightDecay, r2.selected.regularisation?.weightDecay);
  // Stacked per-backbone heads competed with the one head on the concatenated features; the lower held-out loss won.
  const stacking = (r1.selected.search as { stacking?: StackingSummary }).stacking!;
  assert.equal(stacking.weights.length, 2);
  assert.equal(stacking.kept, stacking.cvLoss < stacking.concatenatedCvLoss);
  assert.equal(r1.selected.regularisation?.weightDecay === undefined, stacking.kept);

  const plainFile = path.join(plainOut, 'model.onnx');
  const ttaFile = path.join(ttaOut, 'model.onnx');
  const meta = readModel(plainFile).metadata;
  assert.equal(JSON.parse(meta['graft.backbones']).length, 2);
  const pre = JSON.parse(meta['graft.preprocess']);
  assert.equal(pre.layout, 'NHWC');

  // Plain onnxruntime on the raw RGB crop gives what graft's own loader gives.
  const session = await ort.InferenceSession.create(plainFile);
  const pixels = await imageToTensor(image, pre);
  const maxPixel = pixels.reduce((a, v) => Math.max(a, v), 0);
  assert.ok(maxPixel > 1 && maxPixel <= 255, `the input is 0–255 pixels (max ${maxPixel})`);
  const direct = (await session.run({ pixels: new ort.Tensor('float32', pixels, [1, ...pre.size, 3]) })).probabilities.data as Float32Array;
  const viaGraft = await classify(await loadClassifier(plainFile), [image], { top: 2 });
  for (const p of viaGraft[0].predictions) assert.ok(Math.abs(direct[r1.classes.indexOf(p.label)] - p.probability) < 1e-5);

  // TTA: baked into the file = applied to the plain file at predict time; and mirror-symmetric by construction.
  const baked = await classify(await loadClassifier(ttaFile), [image, mirrored], { top: 2 });
  const applied = await classify(withTta(await loadClassifier(plainFile), 'flip'), [image], { top: 2 });
  const pOf = (c: (typeof baked)[number], label: string) => c.predictions.find((p) => p.label === label)!.probability;
  assert.ok(Math.abs(pOf(baked[0], 'dogs') - pOf(applied[0], 'dogs')) < 1e-5, `${pOf(baked[0], 'dogs')} vs ${pOf(applied[0], 'dogs')}`);
  assert.ok(Math.abs(pOf(baked[0], 'dogs') - pOf(baked[1], 'dogs')) < 2e-3, 'an image and its mirror image get the same TTA probabilities');
});

test('several backbones with a validation split: the stacked head fitted on train reports validation; stacking: false fits one head', async () => {
  const models = 'mobilenet_v1_0.75,darknet_tiny';
  const withVal = await trainClassifier(data, { model: models, out: path.join(work, 'val'), plots: false, cvFolds: 3, seed: 1, val: 0.3 });
  const stacking = (withVal.selected.search as { stacking?: StackingSummary }).stacking!;
  assert.equal(stacking.weights.length, 2);
  assert.ok(withVal.val && withVal.val.n === 6, `validation images: ${withVal.val?.n}`);
  const single = await trainClassifier(data, { model: models, out: path.join(work, 'single'), plots: false, cvFolds: 3, seed: 1, stacking: false });
  assert.equal((single.selected.search as { stacking?: StackingSummary }).stacking, undefined);
  assert.ok(single.selected.regularisation?.weightDecay !== undefined);
});
