/**
 * Small synthetic Keras models, built and serialised by tfjs itself (so model.json is exactly what TF.js
 * writes), converted, and compared layer by layer against tfjs on random inputs and random weights.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { convertTfjsModel } from '../../src/models/tfjs/convert.js';
import { GraftError } from '../../src/util/errors.js';
import { assertClose, fileHandler, maxAbs, runOnnx, saveToDir, tfToStored, useCpuBackend } from './helpers.js';

const TOLERANCE = 1e-4;
let tmp: string;
let seed = 1;

before(async () => {
  await useCpuBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-tfjs-layers-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function freshDir(): string {
  return fs.mkdtempSync(path.join(tmp, 'm-'));
}

/** Random weights everywhere (BatchNormalization variances positive), so no layer is an identity by accident. */
function randomizeWeights(model: tf.LayersModel): void {
  model.setWeights(model.weights.map((w) => (w.name.includes('moving_variance')
    ? tf.randomUniform(w.shape as number[], 0.5, 1.5, 'float32', seed++)
    : tf.randomUniform(w.shape as number[], -0.6, 0.6, 'float32', seed++))));
}

/**
 * Saves `model`, converts it, and checks the converted output and every top-level layer's tensor
 * (NCHW for 4-D) against tfjs on a random batch of two. Returns the model.json path.
 */
async function assertMatchesTfjs(model: tf.LayersModel, opts: { modelJson?: (file: string) => string } = {}): Promise<string> {
  randomizeWeights(model);
  const saved = await saveToDir(model, freshDir());
  const file = opts.modelJson ? opts.modelJson(saved) : saved;
  const converted = await convertTfjsModel(file);
  const inputShape = [2, ...model.inputs[0].shape.slice(1)] as number[];
  const x = tf.randomUniform(inputShape, -1, 1, 'float32', seed++);
  const input = { data: x.dataSync() as Float32Array, dims: inputShape };

  const outputLayer = model.outputs[0].sourceLayer.name;
  const layers = converted.layers.filter((l) => l.className !== 'InputLayer' && l.name !== outputLayer && model.layers.some((m) => m.name === l.name));
  const probe = tf.model({ inputs: model.inputs, outputs: [...model.outputs, ...layers.map((l) => model.getLayer(l.name).output as tf.SymbolicTensor)] });
  const [output, ...taps] = tf.tidy(() => [probe.predict(x)].flat().map((t, i) => (i === 0 ? { data: t.dataSync() as Float32Array, dims: t.shape } : tfToStored(t))));
  const got = await runOnnx(converted.model, input, layers.map((l) => l.tensor));

  const check = (what: string, a: { data: Float32Array; dims: number[] }, b: { data: Float32Array; dims: number[] }): void => assertClose(what, a, b, TOLERANCE * Math.max(1, maxAbs(b)));
  // the graph output is in TF.js layout (NHWC if 4-D); tapped layers are stored NCHW
  check('output', got[converted.outputName], output);
  layers.forEach((l, i) => check(`${l.className} "${l.name}"`, got[l.tensor], taps[i]));
  x.dispose();
  return file;
}

test('Conv2D: SAME with stride 2 on odd/even sizes, even kernels, dilation, no bias; Concatenate; Flatten after conv', async () => {
  const x = tf.input({ shape: [9, 8, 3] });
  const a = tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  const b = tf.layers.conv2d({ filters: 3, kernelSize: 2, strides: 2, padding: 'same', useBias: false }).apply(x) as tf.SymbolicTensor;
  const c = tf.layers.concatenate({ axis: -1 }).apply([a, b]) as tf.SymbolicTensor;
  const d = tf.layers.conv2d({ filters: 5, kernelSize: 3, dilationRate: 2, padding: 'same', activation: 'elu' }).apply(c) as tf.SymbolicTensor;
  const e = tf.layers.conv2d({ filters: 2, kernelSize: 4, strides: 3, padding: 'same' }).apply(d) as tf.SymbolicTensor;
  const v = tf.layers.conv2d({ filters: 3, kernelSize: [3, 2], strides: [2, 1], padding: 'valid', activation: 'sigmoid' }).apply(d) as tf.SymbolicTensor;
  const f = tf.layers.concatenate().apply([tf.layers.flatten().apply(e) as tf.SymbolicTensor, tf.layers.flatten().apply(v) as tf.SymbolicTensor]) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 4, activation: 'tanh' }).apply(f) as tf.SymbolicTensor;
  await assertMatchesTfjs(tf.model({ inputs: x, outputs: out }));
});

test('SeparableConv2D, DepthwiseConv2D (multiplier 2), ZeroPadding2D, Average/MaxPooling2D SAME, GlobalMax/AveragePooling2D', async () => {
  const x = tf.input({ shape: [10, 7, 3] });
  const zp = tf.layers.zeroPadding2d({ padding: [[1, 2], [0, 1]] }).apply(x) as tf.SymbolicTensor; // 13×8
  const sep = tf.layers.separableConv2d({ filters: 6, kernelSize: 3, depthMultiplier: 2, padding: 'same', strides: 2, activation: 'tanh' }).apply(zp) as tf.SymbolicTensor; // 7×4
  const dw = tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'valid', activation: 'relu6' }).apply(sep) as tf.SymbolicTensor; // 5×2×12
  const avg = tf.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(zp) as tf.SymbolicTensor; // 7×4 (odd and even)
  const mx = tf.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'same' }).apply(sep) as tf.SymbolicTensor; // 4×2
  const avgValid = tf.layers.averagePooling2d({ poolSize: 2, padding: 'valid' }).apply(avg) as tf.SymbolicTensor;
  const pooled = [
    tf.layers.globalMaxPooling2d({}).apply(dw),
    tf.layers.globalAveragePooling2d({}).apply(avgValid),
    tf.layers.globalMaxPooling2d({}).apply(mx),
  ] as tf.SymbolicTensor[];
  const out = tf.layers.concatenate().apply(pooled) as tf.SymbolicTensor;
  await assertMatchesTfjs(tf.model({ inputs: x, outputs: out }));
});

test('Multiply, Add of three, LeakyReLU, BatchNormalization, channel softmax, Reshape to a new 4-D shape and back', async () => {
  const x = tf.input({ shape: [6, 6, 4] });
  const b1 = tf.layers.conv2d({ filters: 4, kernelSize: 1, activation: 'hardSigmoid' }).apply(x) as tf.SymbolicTensor;
  const b2 = tf.layers.leakyReLU({ alpha: 0.2 }).apply(x) as tf.SymbolicTensor;
  const m = tf.layers.multiply().apply([b1, b2]) as tf.SymbolicTensor;
  const s = tf.layers.add().apply([m, x, b2]) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization({ epsilon: 0.01 }).apply(s) as tf.SymbolicTensor;
  const sm = tf.layers.activation({ activation: 'softmax' }).apply(bn) as tf.SymbolicTensor;
  const r = tf.layers.reshape({ targetShape: [12, 3, 4] }).apply(sm) as tf.SymbolicTensor;
  const cv = tf.layers.conv2d({ filters: 2, kernelSize: [3, 2], activation: 'swish' }).apply(r) as tf.SymbolicTensor;
  const flat = tf.layers.reshape({ targetShape: [-1] }).apply(cv) as tf.SymbolicTensor;
  const r4 = tf.layers.reshape({ targetShape: [1, 1, 40] }).apply(flat) as tf.SymbolicTensor;
  const r3 = tf.layers.reshape({ targetShape: [5, 8] }).apply(r4) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, activation: 'softplus' }).apply(tf.layers.flatten().apply(r3) as tf.SymbolicTensor) as tf.SymbolicTensor;
  await assertMatchesTfjs(tf.model({ inputs: x, outputs: out }));
});

test('Dense on a 4-D tensor, ELU, Average/Maximum/Minimum, Concatenate over H and W, BatchNormalization without center/scale, Softmax layer', async () => {
  const x = tf.input({ shape: [4, 3, 3] });
  const d4 = tf.layers.dense({ units: 5, activation: 'gelu' }).apply(x) as tf.SymbolicTensor; // 4×3×5
  const e = tf.layers.elu({}).apply(d4) as tf.SymbolicTensor;
  const overH = tf.layers.concatenate({ axis: 1 }).apply([d4, e]) as tf.SymbolicTensor; // 8×3×5
  const merged = ['average', 'maximum', 'minimum'].map((k) => (tf.layers[k as 'average'])({}).apply([d4, e]) as tf.SymbolicTensor);
  const overW = tf.layers.concatenate({ axis: 2 }).apply(merged) as tf.SymbolicTensor; // 4×9×5
  const bn = tf.layers.batchNormalization({ center: false, scale: false }).apply(overW) as tf.SymbolicTensor;
  const smx = tf.layers.softmax({ axis: 3 }).apply(bn) as tf.SymbolicTensor;
  const pooled = [tf.layers.globalAveragePooling2d({}).apply(overH), tf.layers.globalAveragePooling2d({}).apply(smx)] as tf.SymbolicTensor[];
  const dense = tf.layers.dense({ units: 4, activation: 'selu' }).apply(tf.layers.concatenate().apply(pooled)) as tf.SymbolicTensor;
  const bn2 = tf.layers.batchNormalization({}).apply(dense) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, activation: 'mish', useBias: false }).apply(bn2) as tf.SymbolicTensor;
  await assertMatchesTfjs(tf.model({ inputs: x, outputs: out }));
});

test('a model whose output is 4-D gives it back in NHWC', async () => {
  const x = tf.input({ shape: [5, 4, 2] });
  const out = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'softsign' }).apply(x) as tf.SymbolicTensor;
  const file = await assertMatchesTfjs(tf.model({ inputs: x, outputs: out }));
  const converted = await convertTfjsModel(file);
  assert.deepEqual(converted.model.graph.outputs[0].shape, ['N', 5, 4, 3]);
});

test('nested Sequential in a Sequential: non-image input, inner names kept', async () => {
  const inner = tf.sequential({ name: 'inner', layers: [
    tf.layers.dense({ units: 4, inputShape: [6], name: 'hidden', activation: 'relu' }),
    tf.layers.dropout({ rate: 0.5, name: 'drop' }),
    tf.layers.dense({ units: 3, name: 'proj', activation: 'sigmoid' }),
  ] });
  const outer = tf.sequential({ name: 'outer', layers: [inner, tf.layers.dense({ units: 2, name: 'probs', activation: 'softmax' })] });
  const file = await assertMatchesTfjs(outer);
  const converted = await convertTfjsModel(file);
  const tensors = Object.fromEntries(converted.layers.map((l) => [l.name, l.tensor]));
  assert.deepEqual(tensors, { hidden: 'hidden', drop: 'drop', proj: 'proj', inner: 'proj', probs: 'probs' });
  assert.equal(converted.outputName, 'probs');
});

/** Rewrites a tfjs (Keras 2 style) model.json into the Keras 3 form: dict inbound_nodes, batch_shape, Functional. */
function toKeras3(file: string): string {
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  const config = json.modelTopology.config;
  const tensor = (ref: unknown[]): object => ({ class_name: '__keras_tensor__', config: { shape: null, dtype: 'float32', keras_history: ref.slice(0, 3) } });
  for (const layer of config.layers) {
    layer.inbound_nodes = layer.inbound_nodes.map((node: unknown[][]) => ({ args: [node.length === 1 ? tensor(node[0]) : node.map(tensor)], kwargs: {} }));
    if (layer.class_name === 'InputLayer') {
      layer.config.batch_shape = layer.config.batch_input_shape;
      delete layer.config.batch_input_shape;
    }
  }
  config.input_layers = config.input_layers[0];
  config.output_layers = config.output_layers[0];
  json.modelTopology = { class_name: 'Functional', config, keras_version: '3.4.1', backend: 'tensorflow' };
  const out = path.join(path.dirname(file), 'model-keras3.json');
  fs.writeFileSync(out, JSON.stringify(json));
  return out;
}

test('Keras 3 topology (dict inbound_nodes, batch_shape, Functional) converts the same', async () => {
  const x = tf.input({ shape: [5, 5, 2] });
  const a = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }).apply(x) as tf.SymbolicTensor;
  const b = tf.layers.conv2d({ filters: 3, kernelSize: 1 }).apply(x) as tf.SymbolicTensor;
  const sum = tf.layers.add().apply([a, b]) as tf.SymbolicTensor;
  const out = tf.layers.globalAveragePooling2d({}).apply(sum) as tf.SymbolicTensor;
  const file = await assertMatchesTfjs(tf.model({ inputs: x, outputs: out }), { modelJson: toKeras3 });
  assert.match(fs.readFileSync(file, 'utf8'), /__keras_tensor__/);
});

/** Writes a hand-made model.json (Keras 2 form) with the given layers and weights. */
function writeModelJson(layers: object[], weights: { name: string; shape: number[]; values: number[] }[] = [], topLevel: 'model_config' | 'plain' = 'model_config'): string {
  const dir = freshDir();
  const bytes = Buffer.from(Float32Array.from(weights.flatMap((w) => w.values)).buffer);
  fs.writeFileSync(path.join(dir, 'weights.bin'), bytes);
  const config = { class_name: 'Model', config: { name: 'tiny', layers, input_layers: [['in', 0, 0]], output_layers: [[(layers.at(-1) as { name: string }).name, 0, 0]] } };
  const modelTopology = topLevel === 'model_config' ? { keras_version: '2.1.4', backend: 'tensorflow', model_config: config } : config;
  const file = path.join(dir, 'model.json');
  fs.writeFileSync(file, JSON.stringify({ modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: weights.map(({ name, shape }) => ({ name, shape, dtype: 'float32' })) }] }));
  return file;
}

const inputLayer = (shape: (number | null)[]): object => ({ class_name: 'InputLayer', name: 'in', config: { batch_input_shape: shape, dtype: 'float32', name: 'in' }, inbound_nodes: [] });

test('ReLU with max_value, negative_slope and threshold, and ELU with alpha, follow Keras\' formulas', async () => {
  const layer = (className: string, name: string, config: object, from: string): object => ({ class_name: className, name, config: { name, ...config }, inbound_nodes: [[[from, 0, 0, {}]]] });
  const file = writeModelJson([
    inputLayer([null, 9]),
    layer('ReLU', 'r1', { max_value: 6, negative_slope: 0.1, threshold: 0 }, 'in'),
    layer('ReLU', 'r2', { max_value: 2, negative_slope: 0.25, threshold: 0.5 }, 'r1'),
    layer('ELU', 'e', { alpha: 0.7 }, 'in'),
    { class_name: 'Add', name: 'sum', config: { name: 'sum' }, inbound_nodes: [[['r2', 0, 0, {}], ['e', 0, 0, {}]]] },
  ], [], 'plain');
  const converted = await convertTfjsModel(file);
  const xs = [-10, -1, -0.2, 0, 0.3, 0.5, 1.5, 5, 20];
  const got = await runOnnx(converted.model, { data: Float32Array.from(xs), dims: [1, 9] }, ['r1', 'r2', 'e']);
  // Keras: x ≥ max → max; threshold ≤ x < max → x; otherwise negative_slope·(x − threshold). ELU: x > 0 ? x : alpha·(eˣ − 1)
  const relu = (x: number, max: number, slope: number, thr: number): number => (x >= max ? max : x >= thr ? x : slope * (x - thr));
  const r1 = xs.map((x) => relu(x, 6, 0.1, 0));
  const r2 = r1.map((x) => relu(x, 2, 0.25, 0.5));
  const e = xs.map((x) => (x > 0 ? x : 0.7 * Math.expm1(x)));
  const row = (values: number[]): { data: Float32Array; dims: number[] } => ({ data: Float32Array.from(values), dims: [1, 9] });
  assertClose('r1', got.r1, row(r1), 1e-6);
  assertClose('r2', got.r2, row(r2), 1e-6);
  assertClose('e', got.e, row(e), 1e-6);
  assertClose('sum', got.sum, row(r2.map((v, i) => v + e[i])), 1e-6);
});

test('a nested model\'s layer whose name collides with an outer layer gets the model name as prefix', async () => {
  const act = (name: string, activation: string, from: string): object => ({ class_name: 'Activation', name, config: { name, activation }, inbound_nodes: [[[from, 0, 0, {}]]] });
  const inner = {
    class_name: 'Model', name: 'inner',
    config: { name: 'inner', layers: [{ ...inputLayer([null, 4]), name: 'x', config: { batch_input_shape: [null, 4], name: 'x' } }, act('act', 'tanh', 'x')], input_layers: [['x', 0, 0]], output_layers: [['act', 0, 0]] },
    inbound_nodes: [[['act', 0, 0, {}]]],
  };
  const file = writeModelJson([inputLayer([null, 4]), act('act', 'relu', 'in'), inner]);
  const converted = await convertTfjsModel(file);
  const names = converted.layers.map((l) => `${l.name}=${l.tensor}`);
  assert.deepEqual(names, ['in=in', 'act=act', 'x=act', 'act=inner/act', 'inner=inner/act']);
  const xs = [-2, -0.5, 0.5, 2];
  const got = await runOnnx(converted.model, { data: Float32Array.from(xs), dims: [1, 4] });
  assertClose('output', got[converted.outputName], { data: Float32Array.from(xs.map((x) => Math.tanh(Math.max(x, 0)))), dims: [1, 4] }, 1e-6);
});

test('a hand-written Keras 2.1 model.json loads the same in tfjs and in graft', async () => {
  const kernel = Array.from({ length: 3 * 3 * 2 * 2 }, (_, i) => Math.sin(i));
  const file = writeModelJson([
    inputLayer([null, 4, 4, 2]),
    { class_name: 'Conv2D', name: 'c', config: { name: 'c', filters: 2, kernel_size: [3, 3], strides: [2, 2], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], activation: 'relu6', use_bias: true }, inbound_nodes: [[['in', 0, 0, {}]]] },
    { class_name: 'Flatten', name: 'f', config: { name: 'f' }, inbound_nodes: [[['c', 0, 0, {}]]] },
  ], [{ name: 'c/kernel', shape: [3, 3, 2, 2], values: kernel }, { name: 'c/bias', shape: [2], values: [0.5, -0.25] }]);
  const converted = await convertTfjsModel(file);
  const reference = await tf.loadLayersModel(fileHandler(file));
  const data = Float32Array.from({ length: 32 }, (_, i) => Math.cos(i * 0.7) * 3);
  const expected = tf.tidy(() => tfToStored(reference.predict(tf.tensor4d(data, [1, 4, 4, 2])) as tf.Tensor));
  const got = await runOnnx(converted.model, { data, dims: [1, 4, 4, 2] });
  assertClose('output', got.f, expected, TOLERANCE);
});

test('an unsupported layer fails with UNSUPPORTED_LAYER naming the class, the layer and the file', async () => {
  const file = writeModelJson([
    inputLayer([null, 4, 4, 2]),
    { class_name: 'Conv2DTranspose', name: 'deconv', config: { name: 'deconv', filters: 2, kernel_size: [2, 2] }, inbound_nodes: [[['in', 0, 0, {}]]] },
  ]);
  await assert.rejects(convertTfjsModel(file), (err: unknown) => {
    assert.ok(err instanceof GraftError, 'a GraftError');
    assert.equal(err.code, 'UNSUPPORTED_LAYER');
    assert.equal(err.message, `unsupported Keras layer Conv2DTranspose "deconv" in ${file}`);
    return true;
  });
});

test('an unsupported activation is named too', async () => {
  const file = writeModelJson([
    inputLayer([null, 3]),
    { class_name: 'Activation', name: 'act', config: { name: 'act', activation: 'gelu_new' }, inbound_nodes: [[['in', 0, 0, {}]]] },
  ]);
  await assert.rejects(convertTfjsModel(file), /UNSUPPORTED|unsupported Keras activation "gelu_new" in Activation "act"/);
});
