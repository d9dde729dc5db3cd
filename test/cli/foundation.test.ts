import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { graft } from '../helpers/cli.js';
import { catsDogs, sharedModels } from '../helpers/paths.js';
import { fileHandler, useCpuBackend } from '../tfjs/helpers.js';
import { imageToTensor } from '../../src/image/preprocess.js';
import { REGISTRY, findEntry } from '../../src/models/registry.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-cli-'));
const env = { GRAFT_CACHE: path.join(work, 'cache') };
const photos = [
  path.join(catsDogs, 'validation', 'cats', 'cat.2000.jpg'),
  path.join(catsDogs, 'validation', 'cats', 'cat.2005.jpg'),
  path.join(catsDogs, 'validation', 'dogs', 'dog.2000.jpg'),
  path.join(catsDogs, 'validation', 'dogs', 'dog.2010.jpg'),
];

test('graft classify --json agrees with TF.js (CPU backend) running the original model on the same input', async () => {
  const r = graft(['classify', ...photos, '--top', '5', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const results = JSON.parse(r.stdout) as { image: string; predictions: { index: number; label: string; probability: number }[] }[];
  assert.equal(results.length, photos.length);
  await useCpuBackend();
  const model = await tf.loadLayersModel(fileHandler(path.join(sharedModels, 'mobilenet_v1_0.75_224', 'model.json')));
  const pre = findEntry('mobilenet_v1_0.75')!.preprocess;
  for (const [i, res] of results.entries()) {
    assert.equal(res.image, photos[i]);
    const x = await imageToTensor(photos[i], pre);
    const probs = (model.predict(tf.tensor(x, [1, 224, 224, 3])) as tf.Tensor).dataSync();
    const top = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]);
    assert.deepEqual(res.predictions.map((p) => p.index), top.slice(0, 5), `top-5 of ${photos[i]}`);
    for (const p of res.predictions) assert.ok(Math.abs(p.probability - probs[p.index]) <= 1e-4, `${p.label}: ${p.probability} vs tfjs ${probs[p.index]}`);
  }
  // The two cat photos are classified as some kind of cat (ImageNet 281–285) and the dogs as dogs (151–268).
  assert.ok(results.slice(0, 2).every((res) => res.predictions[0].index >= 281 && res.predictions[0].index <= 285));
  assert.ok(results.slice(2).every((res) => res.predictions[0].index >= 151 && res.predictions[0].index <= 268));
});

test('graft classify reports an unreadable image by name and keeps going', () => {
  const bad = path.join(work, 'broken.jpg');
  fs.writeFileSync(bad, 'not really a jpeg');
  const r = graft(['classify', bad, photos[0], '--json'], env);
  assert.equal(r.code, 1);
  const res = JSON.parse(r.stdout);
  assert.match(res[0].error, /broken\.jpg|not an image|unsupported/i);
  assert.equal(res[1].predictions.length, 5);
});

test('graft inspect: parameter totals (converted TF.js model and random-weight architectures)', () => {
  const mobilenet = JSON.parse(graft(['inspect', 'mobilenet_v1_0.75', '--json'], env).stdout);
  // Keras' own count for MobileNet v1 α=0.75 with the 1000-class head: 2,601,976 total, of which 16,416 BN moving statistics.
  assert.equal(mobilenet.parameters + mobilenet.batchNormStatistics, 2601976);
  assert.ok(mobilenet.layers.some((l: { name: string }) => l.name.includes('conv_pw_13')));
  const resnet = graft(['inspect', 'resnet50', '--random-weights', '--json'], env);
  assert.equal(resnet.code, 0, resnet.stderr);
  assert.equal(JSON.parse(resnet.stdout).parameters, 25557032);
  const text = graft(['inspect', 'resnet18', '--random-weights'], env).stdout;
  assert.match(text, /total parameters: 11,689,512/);
});

test('graft features writes a grid and the positions × channels heat-map; --list-layers lists taps', async () => {
  const out = path.join(work, 'maps.png');
  const r = graft(['features', photos[0], '--layer', 'conv_pw_3_relu', '--channels', '8', '--out', out, '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.deepEqual(info.shape, [96, 56, 56]);
  const meta = await sharp(out).metadata();
  assert.ok(meta.width! > 300 && meta.height! > 200);
  const matrix = await sharp(info.matrix).metadata();
  assert.ok(matrix.width! >= 96 && matrix.height! >= 56 * 56 / 56);
  const layers = JSON.parse(graft(['features', '--list-layers', '--json'], env).stdout) as { name: string }[];
  assert.ok(layers.some((l) => l.name === 'conv_pw_13_relu'));
  const unknown = graft(['features', photos[0], '--layer', 'conv_pw_99', '--out', out], env);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no tensor or layer named "conv_pw_99"/);
});

test('graft models lists the registry and where each entry resolves', () => {
  const r = JSON.parse(graft(['models', '--json'], env).stdout);
  assert.deepEqual(r.models.map((m: { name: string }) => m.name), REGISTRY.map((e) => e.name));
  const byName = Object.fromEntries(r.models.map((m: { name: string; resolves: string | null }) => [m.name, m.resolves]));
  assert.equal(byName['mobilenet_v1_0.75'], path.join(sharedModels, 'mobilenet_v1_0.75_224', 'model.json'));
  assert.equal(byName.vgg16, null);
});

test('an unknown model and a model that is not downloadable offline give one clear error', () => {
  const r = graft(['classify', photos[0], '--model', 'nosuchnet'], env);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown model "nosuchnet"/);
  const eff = graft(['classify', photos[0], '--model', 'efficientnet_b0'], env);
  assert.equal(eff.code, 2);
  assert.match(eff.stderr, /efficientnet_b0\.onnx/);
});
