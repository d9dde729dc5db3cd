import { test } from 'node:test';
import assert from 'node:assert/strict';
import { vgg16, vgg19 } from '../../src/models/builders/index.js';
import { parameterCount } from '../../src/onnx/graph.js';
import { assertHealthyLogits, assertNormal, isZeros, runBuilt, weight } from './fixtures.js';

// Each VGG carries ~550 MB of float32 weights: one build and one batch-1 run per model.

test('vgg16: 138,357,544 parameters, torchvision layout and init, runs at batch 1', async () => {
  const built = vgg16({ seed: 2, batch: 1 });
  assert.equal(parameterCount(built.model.graph).trainable, 138_357_544);
  // Configuration D: 13 convs + 5 pools → features.0 … features.30; the last conv is features.28, its ReLU features.29.
  assert.deepEqual(weight(built, 'features.28.weight').dims, [512, 512, 3, 3]);
  assert.equal(built.lastConvTap, 'features.29');
  assert.deepEqual(weight(built, 'classifier.0.weight').dims, [4096, 25088]);
  assert.deepEqual(weight(built, 'classifier.6.bias').dims, [1000]);
  assert.ok(isZeros(weight(built, 'features.0.bias')) && isZeros(weight(built, 'classifier.3.bias')));
  assertNormal(weight(built, 'features.0.weight'), Math.sqrt(2 / (64 * 9)));
  assertNormal(weight(built, 'features.28.weight'), Math.sqrt(2 / (512 * 9)));
  assertNormal(weight(built, 'classifier.6.weight'), 0.01);
  const out = await runBuilt(built, 1, [built.featureTap]);
  assertHealthyLogits(out.logits, 1, 1000);
  assert.deepEqual([...out[built.featureTap].dims], [1, 25088]);
});

test('vgg19: 143,667,240 parameters, runs at batch 1', async () => {
  const built = vgg19({ seed: 2, batch: 1 });
  assert.equal(parameterCount(built.model.graph).trainable, 143_667_240);
  // Configuration E: 16 convs + 5 pools → features.0 … features.36; the last conv is features.34.
  assert.deepEqual(weight(built, 'features.34.weight').dims, [512, 512, 3, 3]);
  assert.equal(built.lastConvTap, 'features.35');
  assert.equal(built.taps.features, 'features.36');
  const out = await runBuilt(built, 1);
  assertHealthyLogits(out.logits, 1, 1000);
});
