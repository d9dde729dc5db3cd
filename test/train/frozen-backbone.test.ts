import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import '../../src/runtime/no-telemetry.js';
import ort from 'onnxruntime-node';
import { trainClassifier } from '../../src/train/frozen-backbone.js';
import { DEFAULT_WEIGHT_DECAYS } from '../../src/train/select.js';
import { loadClassifier } from '../../src/predict/saved.js';
import { classify } from '../../src/predict/classify.js';
import { catsDogs, sharedModels } from '../helpers/paths.js';
import { imageToTensor } from '../../src/image/preprocess.js';
import { graft } from '../helpers/cli.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-transfer-'));
const data = path.join(work, 'pets');
const out = path.join(work, 'out');

before(() => {
  process.env.GRAFT_MODELS = sharedModels;
  process.env.GRAFT_CACHE = path.join(work, 'cache');
  // 24 images per class in class folders, plus junk a training run must survive.
  for (const cls of ['cats', 'dogs']) {
    fs.mkdirSync(path.join(data, cls), { recursive: true });
    for (let i = 0; i < 24; i++) {
      const name = `${cls.slice(0, 3)}.${100 + i}.jpg`;
      fs.copyFileSync(path.join(catsDogs, 'train', cls, name), path.join(data, cls, name));
    }
  }
  fs.writeFileSync(path.join(data, 'cats', 'truncated.jpg'), fs.readFileSync(path.join(catsDogs, 'train', 'cats', 'cat.1.jpg')).subarray(0, 2000));
  fs.writeFileSync(path.join(data, 'dogs', 'empty.jpg'), '');
  fs.writeFileSync(path.join(data, 'dogs', 'notes.txt'), 'not an image');
  fs.writeFileSync(path.join(data, '.DS_Store'), 'junk');
});

test('trains, reports skipped files, exports one ONNX file; a second run extracts nothing', async () => {
  const before = fs.readdirSync(path.join(data, 'cats')).length;
  const r1 = await trainClassifier(data, { out, val: 0.25, seed: 13 });
  assert.deepEqual(r1.classes, ['cats', 'dogs']);
  assert.ok(r1.val && r1.val.n > 0 && r1.val.accuracy >= 0.8, `val accuracy ${r1.val?.accuracy}`);
  // The default linear head chose its weight decay by 5-fold CV on train, then refitted on train + validation.
  const search = r1.selected.search as { cvFolds?: number; cvScores?: { weightDecay: number }[]; weightDecay: number };
  assert.equal(search.cvFolds, 5);
  assert.equal(search.cvScores?.length, DEFAULT_WEIGHT_DECAYS.length);
  assert.ok(search.cvScores!.some((s) => s.weightDecay === search.weightDecay));
  assert.ok(r1.selected.refit && r1.selected.refit.images > r1.val.n, `refit on ${r1.selected.refit?.images} images`);
  const skipped = r1.skipped.map((s) => path.basename(s.path)).sort();
  assert.deepEqual(skipped, ['empty.jpg', 'truncated.jpg']);
  assert.ok(r1.skipped.every((s) => s.reason.length > 0));
  assert.equal(fs.readdirSync(path.join(data, 'cats')).length, before, 'no file deleted');
  for (const f of ['model.onnx', 'report.json', 'confusion.png']) assert.ok(fs.existsSync(path.join(out, f)), f);
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
  for (const k of ['classes', 'val', 'selected', 'skipped', 'timing']) assert.ok(k in report, k);
  assert.ok('accuracy' in report.val && 'top3' in report.val && 'loss' in report.val);
  assert.ok(r1.timing.extractedImages! > 0);

  const r2 = await trainClassifier(data, { val: 0.25, seed: 13 });
  assert.equal(r2.timing.extractedImages, 0, 'second run must use the feature cache');
  assert.deepEqual([r2.selected.search, r2.val?.loss], [r1.selected.search, r1.val.loss], 'same seed, same numbers');
});

test('the exported file predicts the same probabilities with plain onnxruntime-node (no graft code runs the model)', async () => {
  const file = path.join(out, 'model.onnx');
  const image = path.join(catsDogs, 'validation', 'dogs', 'dog.2003.jpg');
  const session = await ort.InferenceSession.create(file);
  const metadata = await readMetadata(file);
  const meta = JSON.parse(metadata['graft.preprocess']);
  const labels = JSON.parse(metadata['graft.labels']);
  // The contract: raw RGB 0–255, NHWC; normalisation is inside the graph.
  assert.equal(meta.layout, 'NHWC');
  assert.deepEqual(meta.mean, [0, 0, 0]);
  assert.ok(meta.std.every((s: number) => Math.abs(s - 1 / 255) < 1e-12));
  const [h, w] = meta.size;
  const run = async (x: Float32Array) => (await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [1, h, w, 3]) })).probabilities.data as Float32Array;

  // The same input tensor through plain onnxruntime and through graft's own pipeline: identical probabilities.
  const plain = await run(await imageToTensor(image, meta));
  const viaGraft = await classify(await loadClassifier(file), [image], { top: 2 });
  for (const p of viaGraft[0].predictions) assert.ok(Math.abs(plain[labels.indexOf(p.label)] - p.probability) < 1e-5, `${p.label}: ${plain[labels.indexOf(p.label)]} vs ${p.probability}`);
  assert.equal(viaGraft[0].predictions[0].label, 'dogs');

  // The metadata is enough to preprocess elsewhere: sharp resize-to-cover + centre crop, raw pixels,
  // gives nearly the same answer (resampling differs in the last bits).
  const raw = await sharp(image).removeAlpha().resize(w, h, { fit: 'cover', kernel: 'linear' }).raw().toBuffer();
  const elsewhere = await run(Float32Array.from(raw));
  assert.ok(Math.abs(elsewhere[labels.indexOf('dogs')] - plain[labels.indexOf('dogs')]) < 0.02, `${elsewhere} vs ${plain}`);
});

test('graft predict and graft eval need nothing but the exported file', () => {
  const file = path.join(out, 'model.onnx');
  const p = graft(['predict', file, path.join(catsDogs, 'validation', 'cats', 'cat.2001.jpg'), '--json'], { GRAFT_MODELS: path.join(work, 'nothing-here'), GRAFT_CACHE: path.join(work, 'empty-cache') });
  assert.equal(p.code, 0, p.stderr);
  const preds = JSON.parse(p.stdout);
  assert.equal(preds[0].predictions.length, 2);
  assert.ok(Math.abs(preds[0].predictions[0].probability + preds[0].predictions[1].probability - 1) < 1e-5);
  const e = graft(['eval', file, data, '--json', '-o', path.join(work, 'eval')], { GRAFT_MODELS: path.join(work, 'nothing-here'), GRAFT_CACHE: path.join(work, 'empty-cache') });
  assert.equal(e.code, 0, e.stderr);
  const ev = JSON.parse(e.stdout);
  assert.ok(ev.val.n > 0 && ev.val.accuracy >= 0.8, JSON.stringify(ev.val.accuracy));
  assert.equal(ev.skipped.length >= 1, true);
});

async function readMetadata(file: string): Promise<Record<string, string>> {
  const { readModel } = await import('../../src/onnx/codec.js');
  return readModel(file).metadata;
}
