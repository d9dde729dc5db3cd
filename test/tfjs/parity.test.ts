/**
 * Converted real TF.js models against tfjs itself (CPU backend) on real photos, at the output and at
 * intermediate layers (the converter's NCHW taps against tfjs' NHWC tensors, transposed).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { convertTfjsModel, type ConvertedTfjsModel } from '../../src/models/tfjs/convert.js';
import { MODELS, PHOTOS, argmaxRows, assertClose, fileHandler, maxAbs, photoBatch, runOnnx, tfToStored, useCpuBackend } from './helpers.js';

/**
 * Outputs must agree within 1e-4. Deep intermediate activations reach ±200 and tfjs-cpu and onnxruntime sum
 * in different orders, so there the bound is 1e-4 relative to the layer's largest value (float32 noise grows
 * layer by layer to ~3e-6 relative; a layout, padding or weight error shows up as O(1)).
 */
const TOLERANCE = 1e-4;

type Stored = { data: Float32Array; dims: number[] };

before(useCpuBackend);

/** One tfjs pass giving the outputs of `layerNames` of `model` (a model whose input is the image). */
function tfjsLayers(model: tf.LayersModel, layerNames: string[], x: tf.Tensor): Stored[] {
  const sub = tf.model({ inputs: model.inputs, outputs: layerNames.map((n) => model.getLayer(n).output as tf.SymbolicTensor) });
  return tf.tidy(() => {
    const out = sub.predict(x);
    return (Array.isArray(out) ? out : [out]).map(tfToStored);
  });
}

function assertTapsClose(got: Record<string, Stored>, taps: string[], expected: Stored[]): void {
  taps.forEach((name, i) => assertClose(name, got[name], expected[i], TOLERANCE * Math.max(1, maxAbs(expected[i]))));
}

/** Global average pooling of an NCHW tensor, computed directly. */
function spatialMean(t: Stored): Stored {
  const [n, c, h, w] = t.dims;
  const data = new Float32Array(n * c);
  for (let i = 0; i < n * c; i++) {
    let sum = 0;
    for (let k = 0; k < h * w; k++) sum += t.data[i * h * w + k];
    data[i] = sum / (h * w);
  }
  return { data, dims: [n, c] };
}

async function convertTimed(file: string): Promise<{ converted: ConvertedTfjsModel; ms: number }> {
  const t0 = performance.now();
  const converted = await convertTfjsModel(file);
  return { converted, ms: performance.now() - t0 };
}

test('mobilenet_v1_0.75_224 matches tfjs on photos, at the output and inside; it sees the cat', async () => {
  const file = path.join(MODELS, 'mobilenet_v1_0.75_224/model.json');
  const { converted, ms: convertMs } = await convertTimed(file);
  const batch = await photoBatch(PHOTOS, 224, 1 / 127.5, -1);
  const taps = ['conv1_relu', 'conv_dw_6_bn', 'conv_pw_13_relu', 'global_average_pooling2d_1', 'conv_preds'];

  const reference = await tf.loadLayersModel(fileHandler(file));
  const x = tf.tensor4d(batch.data, batch.dims as [number, number, number, number]);
  const t1 = performance.now();
  const [expectedOut, ...expectedTaps] = tfjsLayers(reference, ['reshape_2', ...taps], x);
  const tfjsMs = performance.now() - t1;
  const t2 = performance.now();
  const got = await runOnnx(converted.model, batch, taps);
  const onnxMs = performance.now() - t2;

  assert.equal(converted.outputName, 'reshape_2');
  assert.deepEqual(got.reshape_2.dims, [PHOTOS.length, 1000]);
  assertClose('output', got.reshape_2, expectedOut, TOLERANCE);
  assertTapsClose(got, taps, expectedTaps);
  const top1 = argmaxRows(got.reshape_2);
  assert.deepEqual(top1, argmaxRows(expectedOut));
  const labels = JSON.parse(fs.readFileSync(path.join(MODELS, 'imagenet_classes.json'), 'utf8')) as string[];
  assert.ok(top1[0] >= 281 && top1[0] <= 285, `cat.2000.jpg classified as ${labels[top1[0]]} (${top1[0]})`);
  console.log(`# mobilenet_v1: convert ${convertMs.toFixed(0)} ms; ${PHOTOS.length} photos: tfjs-cpu ${tfjsMs.toFixed(0)} ms, onnx ${onnxMs.toFixed(0)} ms incl. session creation; top-1: ${top1.map((k) => labels[k]).join(' | ')}`);
  x.dispose();
});

test('darknet_tiny matches tfjs on photos, at the output and inside', async () => {
  const file = path.join(MODELS, 'darknet_tiny/model.json');
  const { converted } = await convertTimed(file);
  const batch = await photoBatch(PHOTOS, 224, 1 / 255, 0);
  const taps = ['leaky_re_lu_1', 'max_pooling2d_3', 'leaky_re_lu_15', 'conv2d_16'];
  const reference = await tf.loadLayersModel(fileHandler(file));
  const x = tf.tensor4d(batch.data, batch.dims as [number, number, number, number]);
  const [expectedOut, ...expectedTaps] = tfjsLayers(reference, ['global_average_pooling2d_1', ...taps], x);
  const got = await runOnnx(converted.model, batch, taps);
  assertClose('output', got[converted.outputName], expectedOut, TOLERANCE);
  assertTapsClose(got, taps, expectedTaps);
  assert.deepEqual(argmaxRows(got[converted.outputName]), argmaxRows(expectedOut));
  x.dispose();
});

test('teachable machine (Sequential of a MobileNetV2 Model and a Sequential head) matches tfjs; inner layers keep their names', async () => {
  const file = path.join(MODELS, 'teachable_machine_mobilenet_v2_0.35/model.json');
  const { converted } = await convertTimed(file);
  const batch = await photoBatch(PHOTOS, 224, 1 / 127.5, -1);
  const reference = await tf.loadLayersModel(fileHandler(file));
  const x = tf.tensor4d(batch.data, batch.dims as [number, number, number, number]);
  const expectedOut = tf.tidy(() => tfToStored(reference.predict(x) as tf.Tensor));
  const backbone = (reference.getLayer('sequential_3') as tf.LayersModel).getLayer('model2') as tf.LayersModel;
  const innerTaps = ['Conv1_relu', 'block_2_add', 'block_13_pad', 'out_relu'];
  const expectedInner = tfjsLayers(backbone, innerTaps, x);
  const features = spatialMean(expectedInner[3]);

  const featureLayer = converted.layers.find((l) => l.name === 'global_average_pooling2d_GlobalAveragePooling2D2');
  assert.ok(featureLayer, 'the pooling layer is listed');
  const got = await runOnnx(converted.model, batch, [...innerTaps, featureLayer.tensor]);
  assert.equal(converted.outputName, 'dense_Dense2');
  assert.deepEqual(got.dense_Dense2.dims, [PHOTOS.length, 3]);
  assertClose('output', got.dense_Dense2, expectedOut, TOLERANCE);
  assertClose('features', got[featureLayer.tensor], features, TOLERANCE);
  assertTapsClose(got, innerTaps, expectedInner);
  assert.deepEqual(argmaxRows(got.dense_Dense2), argmaxRows(expectedOut));
  const names = converted.layers.map((l) => l.name);
  for (const n of ['input_1', 'model2', 'sequential_3', 'sequential_5', 'out_relu', 'dense_Dense1']) assert.ok(names.includes(n), `layer ${n} listed`);
  x.dispose();
});
