/** Block boundaries ("unfreeze the last N blocks"): every builder and every imported TF.js model gives the blocks its paper/framework has. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { buildArchitecture } from '../../src/models/builders/index.js';
import { loadModel } from '../../src/models/load.js';
import type { Graph } from '../../src/onnx/types.js';
import { parameterLayers } from '../../src/train/finetune/params.js';
import { sharedModels } from '../helpers/paths.js';

process.env.GRAFT_MODELS ??= sharedModels;

/** Distinct blocks in order, each with the names of its layers. */
function blocks(g: Graph): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const l of parameterLayers(g)) out.set(l.block, [...(out.get(l.block) ?? []), l.node.name]);
  return out;
}

const range = (prefix: string, from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => `${prefix}${from + i}`);

test('ResNet-18/50: stem, the four stages, the classifier', () => {
  for (const arch of ['resnet18', 'resnet50']) {
    const b = blocks(buildArchitecture(arch, { classes: 3, inputSize: 32 }).model.graph);
    assert.deepEqual([...b.keys()], ['stem', 'layer1', 'layer2', 'layer3', 'layer4', 'classifier'], arch);
    assert.deepEqual(b.get('stem'), ['conv1', 'bn1']);
  }
  // ResNet-18 stage 2: two basic blocks of conv-BN-conv-BN, plus the 1×1 downsample conv-BN of its first block.
  assert.equal(blocks(buildArchitecture('resnet18', { classes: 3, inputSize: 32 }).model.graph).get('layer2')!.length, 10);
});

test('MobileNetV2: the stem conv, 17 inverted residuals, the last 1×1 conv, the classifier', () => {
  const b = blocks(buildArchitecture('mobilenet_v2', { classes: 3, inputSize: 32 }).model.graph);
  assert.deepEqual([...b.keys()], [...range('features.', 0, 18), 'classifier']);
  // features.1 has no expansion (conv dw + BN, conv project + BN); the others expand first.
  assert.equal(b.get('features.1')!.length, 4);
  assert.equal(b.get('features.2')!.length, 6);
});

test('EfficientNet-B0: the stem, its 16 MBConv blocks (features.stage.block), the top conv, the classifier', () => {
  const b = [...blocks(buildArchitecture('efficientnet_b0', { classes: 3, inputSize: 32 }).model.graph).keys()];
  const repeats = [1, 2, 2, 3, 3, 4, 1];
  const mbconv = repeats.flatMap((n, s) => Array.from({ length: n }, (_, k) => `features.${s + 1}.${k}`));
  assert.equal(mbconv.length, 16);
  assert.deepEqual(b, ['features.0', ...mbconv, 'features.8', 'classifier']);
});

test('VGG-16/19: the five conv stages between max-pools (2, 2, 3|4, 3|4, 3|4 convs), the classifier', () => {
  for (const [arch, perStage] of [['vgg16', [2, 2, 3, 3, 3]], ['vgg19', [2, 2, 4, 4, 4]]] as const) {
    const b = blocks(buildArchitecture(arch, { classes: 3, inputSize: 32 }).model.graph);
    assert.deepEqual([...b.keys()], [...range('stage', 1, 5), 'classifier'], arch);
    assert.deepEqual(range('stage', 1, 5).map((s) => b.get(s)!.length), perStage, arch);
    assert.deepEqual(b.get('stage1'), ['features.0', 'features.2']);
  }
});

test('scratch CNN: its four conv-BN blocks', () => {
  const b = blocks(buildArchitecture('scratch_cnn', { classes: 3 }).model.graph);
  assert.deepEqual([...b.keys()], [...range('features.', 0, 3), 'classifier']);
});

const tm = path.join(sharedModels, 'teachable_machine_mobilenet_v2_0.35', 'model.json');

test('Teachable Machine export (Keras MobileNetV2 in a nested Sequential): stem, block_0…block_16, Conv_1, then the user head', async (t) => {
  if (!fs.existsSync(tm)) return t.skip('shared Teachable Machine model missing');
  const b = blocks((await loadModel(tm)).model.graph);
  assert.deepEqual([...b.keys()], ['stem', ...range('block_', 0, 16), 'Conv_1', 'dense_Dense1/preact', 'dense_Dense2/preact']);
  assert.deepEqual(b.get('stem'), ['Conv1', 'bn_Conv1']);
  assert.deepEqual(b.get('block_0'), ['expanded_conv_depthwise', 'expanded_conv_depthwise_BN', 'expanded_conv_project', 'expanded_conv_project_BN']);
  assert.deepEqual(b.get('block_16'), ['block_16_expand', 'block_16_expand_BN', 'block_16_depthwise', 'block_16_depthwise_BN', 'block_16_project', 'block_16_project_BN']);
});

test('MobileNet v1 (TF.js): stem, block_1…block_13 as conv_dw_N + conv_pw_N, the classifier', async (t) => {
  if (!fs.existsSync(path.join(sharedModels, 'mobilenet_v1_0.75_224'))) return t.skip('shared MobileNet missing');
  const b = blocks((await loadModel('mobilenet_v1_0.75')).model.graph);
  assert.deepEqual([...b.keys()], ['stem', ...range('block_', 1, 13), 'classifier']);
  assert.deepEqual(b.get('block_7'), ['conv_dw_7', 'conv_dw_7_bn', 'conv_pw_7', 'conv_pw_7_bn']);
});

test('Darknet tiny (Keras auto names): one block per conv with its BatchNormalization', async (t) => {
  if (!fs.existsSync(path.join(sharedModels, 'darknet_tiny'))) return t.skip('shared Darknet missing');
  const b = blocks((await loadModel('darknet_tiny')).model.graph);
  assert.deepEqual([...b.keys()], range('conv2d_', 1, 16));
  assert.deepEqual(b.get('conv2d_3'), ['conv2d_3', 'batch_normalization_3']);
  assert.deepEqual(b.get('conv2d_16'), ['conv2d_16'], 'the final 1×1 classifier conv has no BN');
});
