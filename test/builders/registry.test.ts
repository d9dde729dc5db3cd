import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ARCHITECTURES, buildArchitecture, scratchCnn } from '../../src/models/builders/index.js';
import { parameterCount, tensorNames } from '../../src/onnx/graph.js';
import { GraftError } from '../../src/util/errors.js';
import { assertHealthyLogits, isZeros, runBuilt, weight } from './fixtures.js';

test('the registry knows the seven architectures and rejects others, listing them', () => {
  assert.deepEqual(Object.keys(ARCHITECTURES).sort(), ['efficientnet_b0', 'mobilenet_v2', 'resnet18', 'resnet50', 'scratch_cnn', 'vgg16', 'vgg19']);
  assert.throws(
    () => buildArchitecture('resnet101'),
    (err: unknown) => err instanceof GraftError && err.code === 'BAD_ARGUMENT' && /resnet101/.test(err.message) && /vgg16, vgg19, resnet18/.test(err.message),
  );
  assert.throws(() => buildArchitecture('toString'), GraftError);
  assert.throws(() => buildArchitecture('scratch_cnn', { classes: 0 }), (err: unknown) => err instanceof GraftError && /classes/.test(err.message));
  assert.throws(() => buildArchitecture('scratch_cnn', { batch: 1.5 }), (err: unknown) => err instanceof GraftError && /batch/.test(err.message));
});

test('built models are opset 17 with input [N,3,S,S], output logits [N,classes], and taps that name real tensors', () => {
  const built = buildArchitecture('mobilenet_v2', { classes: 5 });
  assert.deepEqual(built.model.opsetImports, [{ domain: '', version: 17 }]);
  assert.deepEqual(built.model.graph.inputs, [{ name: 'input', dtype: 'float32', shape: ['N', 3, 224, 224] }]);
  assert.deepEqual(built.model.graph.outputs, [{ name: 'logits', dtype: 'float32', shape: ['N', 5] }]);
  const names = tensorNames(built.model.graph);
  for (const [tap, tensor] of Object.entries(built.taps)) assert.ok(names.has(tensor), `tap ${tap} → ${tensor}`);
  assert.equal(built.taps.classifier, 'logits');
  assert.equal(built.taps.avgpool, 'adaptive_avg_pool2d');
  assert.equal(built.featureTap, 'flatten');
});

test('scratch_cnn: hand-counted parameters, runs at 2 classes, conv biases only without batch norm', async () => {
  const built = scratchCnn({ classes: 2, seed: 1 });
  // convs 3·32·9 + 32·64·9 + 64·128·9 + 128·128·9 = 240,480; BN weight+bias 2·(32+64+128+128) = 704; dense 128·2 + 2.
  assert.equal(parameterCount(built.model.graph).trainable, 240_480 + 704 + 258);
  assert.deepEqual(built.inputShape, ['N', 3, 128, 128]);
  const out = await runBuilt(built, 2, [built.lastConvTap, built.featureTap]);
  assert.deepEqual([...out.logits.dims], [2, 2]);
  assert.ok(out.logits.data.every(Number.isFinite) && out.logits.data[0] !== out.logits.data[1]);
  assert.deepEqual([...out[built.lastConvTap].dims], [2, 128, 16, 16]);
  assert.deepEqual([...out[built.featureTap].dims], [2, 128]);

  const plain = scratchCnn({ classes: 3, widths: [8, 16], batchNorm: false, inputSize: 64, batch: 4 });
  assert.ok(isZeros(weight(plain, 'features.1.conv.bias')));
  assert.equal(parameterCount(plain.model.graph).trainable, 3 * 8 * 9 + 8 + 8 * 16 * 9 + 16 + 16 * 3 + 3);
  assert.ok(!plain.model.graph.nodes.some((n) => n.opType === 'BatchNormalization'));
  assertHealthyLogits((await runBuilt(plain, 4)).logits, 4, 3);
});
