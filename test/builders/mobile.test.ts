import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { efficientnetB0, mobilenetV2 } from '../../src/models/builders/index.js';
import { parameterCount } from '../../src/onnx/graph.js';
import { sharedModels } from '../helpers/paths.js';
import { assertHealthyLogits, assertNormal, assertUniform, isOnes, isZeros, runBuilt, weight } from './fixtures.js';

test('mobilenet_v2: 3,504,872 parameters, inverted-residual layout and init as torchvision', () => {
  const built = mobilenetV2({ seed: 4 });
  assert.equal(parameterCount(built.model.graph).trainable, 3_504_872);
  // features.1 (t = 1) has no expansion conv; features.2 expands 16 → 96, depthwise stride 2, projects to 24.
  assert.deepEqual(weight(built, 'features.1.conv.0.0.weight').dims, [32, 1, 3, 3]);
  assert.deepEqual(weight(built, 'features.1.conv.1.weight').dims, [16, 32, 1, 1]);
  assert.deepEqual(weight(built, 'features.2.conv.0.0.weight').dims, [96, 16, 1, 1]);
  assert.deepEqual(weight(built, 'features.2.conv.1.0.weight').dims, [96, 1, 3, 3]);
  assert.deepEqual(weight(built, 'features.2.conv.3.running_var').dims, [24]);
  assert.deepEqual(weight(built, 'features.18.0.weight').dims, [1280, 320, 1, 1]);
  assert.deepEqual(weight(built, 'classifier.1.weight').dims, [1000, 1280]);
  assert.equal(built.taps['features.3'], 'features.3.add', 'stride 1 with equal channels is residual');
  assert.equal(built.taps['features.4'], 'features.4.conv.3', 'a stride-2 block has no residual');
  assertNormal(weight(built, 'features.18.0.weight'), Math.sqrt(2 / 1280));
  assertNormal(weight(built, 'features.17.conv.1.0.weight'), Math.sqrt(2 / (960 * 9)));
  assertNormal(weight(built, 'classifier.1.weight'), 0.01);
  assert.ok(isZeros(weight(built, 'classifier.1.bias')));
  assert.ok(isOnes(weight(built, 'features.5.conv.1.1.weight')));
});

test('mobilenet_v2 at width 0.35 has the conv shapes of Keras MobileNetV2 α=0.35 (the Teachable Machine backbone)', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(sharedModels, 'teachable_machine_mobilenet_v2_0.35', 'model.json'), 'utf8'));
  const kerasWeights: { name: string; shape: number[] }[] = manifest.weightsManifest.flatMap((g: { weights: unknown[] }) => g.weights);
  // Keras stores conv kernels as [kh, kw, in, out] and depthwise kernels as [kh, kw, channels, 1].
  const keras = kerasWeights
    .filter((w) => /(^|\/)(kernel|depthwise_kernel)$/.test(w.name) && !/dense/i.test(w.name))
    .map((w) => (w.name.endsWith('depthwise_kernel') ? [w.shape[2], 1, w.shape[0], w.shape[1]] : [w.shape[3], w.shape[2], w.shape[0], w.shape[1]]).join(','));
  const built = mobilenetV2({ widthMult: 0.35 });
  const ours = [...built.model.graph.initializers.values()].filter((t) => t.dims.length === 4).map((t) => t.dims.join(','));
  assert.equal(keras.length, 52);
  assert.deepEqual(ours, keras);
  const kerasBnChannels = kerasWeights.filter((w) => w.name.endsWith('/gamma')).map((w) => w.shape[0]);
  const ourBnChannels = [...built.model.graph.initializers.values()].filter((t) => t.name.endsWith('running_mean')).map((t) => t.dims[0]);
  assert.deepEqual(ourBnChannels, kerasBnChannels);
});

test('efficientnet_b0: 5,288,548 parameters, MBConv + SE layout and init as torchvision', () => {
  const built = efficientnetB0({ seed: 4 });
  assert.equal(parameterCount(built.model.graph).trainable, 5_288_548);
  // features.1.0 (expand 1): depthwise, SE squeeze 32/4 = 8, project; features.3.0: 5×5 depthwise on 24·6 = 144.
  assert.deepEqual(weight(built, 'features.1.0.block.0.0.weight').dims, [32, 1, 3, 3]);
  assert.deepEqual(weight(built, 'features.1.0.block.1.fc1.weight').dims, [8, 32, 1, 1]);
  assert.deepEqual(weight(built, 'features.1.0.block.1.fc1.bias').dims, [8]);
  assert.deepEqual(weight(built, 'features.1.0.block.2.0.weight').dims, [16, 32, 1, 1]);
  assert.deepEqual(weight(built, 'features.3.0.block.1.0.weight').dims, [144, 1, 5, 5]);
  assert.deepEqual(weight(built, 'features.3.1.block.2.fc2.weight').dims, [240, 10, 1, 1]);
  assert.deepEqual(weight(built, 'features.8.0.weight').dims, [1280, 320, 1, 1]);
  assert.equal(built.taps['features.6.3'], 'features.6.3.add');
  assert.equal(built.taps['features.6.0'], 'features.6.0.block.3.1');
  assertNormal(weight(built, 'features.6.2.block.1.0.weight'), Math.sqrt(2 / (1152 * 25)));
  assertNormal(weight(built, 'features.6.2.block.2.fc2.weight'), Math.sqrt(2 / 1152));
  assert.ok(isZeros(weight(built, 'features.6.2.block.2.fc1.bias')));
  assertUniform(weight(built, 'classifier.1.weight'), 1 / Math.sqrt(1000));
  assert.ok(isZeros(weight(built, 'classifier.1.bias')));
});

for (const [name, build] of [['mobilenet_v2', mobilenetV2], ['efficientnet_b0', efficientnetB0]] as const) {
  test(`${name} runs at batch 2: finite logits [2, 1000], last conv [2, 1280, 7, 7], seeds deterministic`, async () => {
    const built = build({ seed: 9, batch: 2 });
    const out = await runBuilt(built, 2, [built.lastConvTap]);
    assertHealthyLogits(out.logits, 2, 1000);
    assert.deepEqual([...out[built.lastConvTap].dims], [2, 1280, 7, 7]);
    const again = build({ seed: 9, batch: 2 });
    for (const [key, t] of built.model.graph.initializers) assert.deepEqual(again.model.graph.initializers.get(key)!.data, t.data, key);
    const other = build({ seed: 10, batch: 2 });
    assert.notDeepEqual(weight(other, 'features.0.0.weight').data, weight(built, 'features.0.0.weight').data);
  });
}
