import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resnet18, resnet50 } from '../../src/models/builders/index.js';
import { parameterCount } from '../../src/onnx/graph.js';
import type { BuiltModel } from '../../src/models/builders/index.js';
import { assertHealthyLogits, assertNormal, assertUniform, isOnes, isZeros, runBuilt, weight } from './fixtures.js';

/** BatchNorm2d's state_dict entries (num_batches_tracked, an int64 counter, is not part of the ONNX graph). */
function bn(name: string, c: number): string[] {
  return [`${name}.weight ${c}`, `${name}.bias ${c}`, `${name}.running_mean ${c}`, `${name}.running_var ${c}`];
}

/**
 * torchvision resnet18().state_dict() keys and shapes, in registration order, written out from
 * torchvision/models/resnet.py: conv1 7×7/2, bn1, layer1–4 of two BasicBlocks (conv1 3×3 with the stride,
 * bn1, conv2 3×3, bn2, downsample = [1×1 conv with the stride, BN] on the first block of layers 2–4), fc.
 */
const RESNET18_STATE_DICT = [
  'conv1.weight 64,3,7,7', ...bn('bn1', 64),
  'layer1.0.conv1.weight 64,64,3,3', ...bn('layer1.0.bn1', 64), 'layer1.0.conv2.weight 64,64,3,3', ...bn('layer1.0.bn2', 64),
  'layer1.1.conv1.weight 64,64,3,3', ...bn('layer1.1.bn1', 64), 'layer1.1.conv2.weight 64,64,3,3', ...bn('layer1.1.bn2', 64),
  'layer2.0.conv1.weight 128,64,3,3', ...bn('layer2.0.bn1', 128), 'layer2.0.conv2.weight 128,128,3,3', ...bn('layer2.0.bn2', 128),
  'layer2.0.downsample.0.weight 128,64,1,1', ...bn('layer2.0.downsample.1', 128),
  'layer2.1.conv1.weight 128,128,3,3', ...bn('layer2.1.bn1', 128), 'layer2.1.conv2.weight 128,128,3,3', ...bn('layer2.1.bn2', 128),
  'layer3.0.conv1.weight 256,128,3,3', ...bn('layer3.0.bn1', 256), 'layer3.0.conv2.weight 256,256,3,3', ...bn('layer3.0.bn2', 256),
  'layer3.0.downsample.0.weight 256,128,1,1', ...bn('layer3.0.downsample.1', 256),
  'layer3.1.conv1.weight 256,256,3,3', ...bn('layer3.1.bn1', 256), 'layer3.1.conv2.weight 256,256,3,3', ...bn('layer3.1.bn2', 256),
  'layer4.0.conv1.weight 512,256,3,3', ...bn('layer4.0.bn1', 512), 'layer4.0.conv2.weight 512,512,3,3', ...bn('layer4.0.bn2', 512),
  'layer4.0.downsample.0.weight 512,256,1,1', ...bn('layer4.0.downsample.1', 512),
  'layer4.1.conv1.weight 512,512,3,3', ...bn('layer4.1.bn1', 512), 'layer4.1.conv2.weight 512,512,3,3', ...bn('layer4.1.bn2', 512),
  'fc.weight 1000,512', 'fc.bias 1000',
];

// Built once and shared: each build draws ~10⁷ random numbers.
let r18: BuiltModel | undefined;
let r50: BuiltModel | undefined;
const seededResnet18 = () => (r18 ??= resnet18({ seed: 1, batch: 2 }));
const seededResnet50 = () => (r50 ??= resnet50({ seed: 3 }));

test('resnet18: initializer names and shapes are torchvision state_dict keys, in order', () => {
  const built = seededResnet18();
  const actual = [...built.model.graph.initializers.values()].map((t) => `${t.name} ${t.dims.join(',')}`);
  assert.deepEqual(actual, RESNET18_STATE_DICT);
});

test('parameter counts equal torchvision: resnet18 11,689,512, resnet50 25,557,032', () => {
  assert.equal(parameterCount(seededResnet18().model.graph).trainable, 11_689_512);
  const r50 = seededResnet50();
  assert.equal(parameterCount(r50.model.graph).trainable, 25_557_032);
  // v1.5: in a Bottleneck the stride sits on the 3×3 conv2, not on the 1×1 conv1.
  const strides = (name: string) => r50.model.graph.nodes.find((n) => n.name === name)!.attributes.strides;
  assert.deepEqual(strides('layer2.0.conv1'), { type: 'ints', value: [1, 1] });
  assert.deepEqual(strides('layer2.0.conv2'), { type: 'ints', value: [2, 2] });
  assert.deepEqual(weight(r50, 'layer3.0.downsample.0.weight').dims, [1024, 512, 1, 1]);
  assert.deepEqual(weight(r50, 'layer1.0.conv3.weight').dims, [256, 64, 1, 1]);
});

test('resnet18 init follows torchvision: Kaiming-normal fan_out convs, BN 1/0, fc at PyTorch default', () => {
  const built = seededResnet18();
  assertNormal(weight(built, 'conv1.weight'), Math.sqrt(2 / (64 * 49)));
  assertNormal(weight(built, 'layer4.1.conv2.weight'), Math.sqrt(2 / (512 * 9)));
  assertNormal(weight(built, 'layer3.0.downsample.0.weight'), Math.sqrt(2 / 256));
  assertUniform(weight(built, 'fc.weight'), 1 / Math.sqrt(512));
  assertUniform(weight(built, 'fc.bias'), 1 / Math.sqrt(512));
  for (const key of ['bn1.weight', 'layer2.0.downsample.1.weight', 'layer4.1.bn2.running_var']) assert.ok(isOnes(weight(built, key)), key);
  for (const key of ['bn1.bias', 'layer4.1.bn2.running_mean']) assert.ok(isZeros(weight(built, key)), key);
});

test('resnet18 runs at batch 2; the feature tap is the spatial mean of the last conv tap; seeds are deterministic', async () => {
  const a = seededResnet18();
  assert.equal(a.taps.layer4, a.lastConvTap);
  assert.equal(a.taps['layer4.1'], 'layer4.1.relu_1');
  const out = await runBuilt(a, 2, [a.featureTap, a.lastConvTap]);
  assertHealthyLogits(out.logits, 2, 1000);
  const conv = out[a.lastConvTap];
  const feat = out[a.featureTap];
  assert.deepEqual([...conv.dims], [2, 512, 7, 7]);
  assert.deepEqual([...feat.dims], [2, 512]);
  for (const k of [0, 77, 511, 512 + 300]) {
    const mean = conv.data.slice(k * 49, (k + 1) * 49).reduce((s, v) => s + v, 0) / 49;
    assert.ok(Math.abs(feat.data[k] - mean) < 1e-4 * (1 + Math.abs(mean)), `feature ${k}: ${feat.data[k]} vs ${mean}`);
  }

  const again = resnet18({ seed: 1, batch: 2 });
  for (const [name, t] of a.model.graph.initializers) assert.deepEqual(again.model.graph.initializers.get(name)!.data, t.data, name);
  const other = resnet18({ seed: 2, batch: 2 });
  assert.notDeepEqual(weight(other, 'layer1.0.conv1.weight').data, weight(a, 'layer1.0.conv1.weight').data);
  const otherOut = await runBuilt(other, 2);
  assert.ok(otherOut.logits.data.some((v, i) => Math.abs(v - out.logits.data[i]) > 1e-3), 'different seeds must give different logits');
});

test('resnet50 runs at batch 2 with a symbolic batch dimension', async () => {
  const built = seededResnet50();
  assert.deepEqual(built.inputShape, ['N', 3, 224, 224]);
  const out = await runBuilt(built, 2, [built.taps['layer4']]);
  assertHealthyLogits(out.logits, 2, 1000);
  assert.deepEqual([...out[built.taps['layer4']].dims], [2, 2048, 7, 7]);
});
