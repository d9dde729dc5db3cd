/** loadTfjsAsOnnx: converts once, then reads the cached .onnx; a changed weight shard means a new conversion. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadTfjsAsOnnx, tfjsCacheStats } from '../../src/models/tfjs/cache.js';
import { encodeModel } from '../../src/onnx/codec.js';
import { assertClose, runOnnx } from './helpers.js';

/** A tiny Conv2D → GlobalAveragePooling2D model with deterministic weights. */
function writeTinyModel(dir: string): string {
  const layers = [
    { class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_input_shape: [null, 5, 5, 2] }, inbound_nodes: [] },
    { class_name: 'Conv2D', name: 'conv', config: { name: 'conv', filters: 3, kernel_size: [3, 3], strides: [1, 1], padding: 'same', activation: 'relu', use_bias: true }, inbound_nodes: [[['in', 0, 0, {}]]] },
    { class_name: 'GlobalAveragePooling2D', name: 'gap', config: { name: 'gap' }, inbound_nodes: [[['conv', 0, 0, {}]]] },
  ];
  const kernel = Float32Array.from({ length: 3 * 3 * 2 * 3 }, (_, i) => Math.sin(i + 1));
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(Float32Array.from([...kernel, 0.1, -0.2, 0.3]).buffer));
  const file = path.join(dir, 'model.json');
  fs.writeFileSync(file, JSON.stringify({
    modelTopology: { model_config: { class_name: 'Model', config: { name: 'tiny', layers, input_layers: [['in', 0, 0]], output_layers: [['gap', 0, 0]] } } },
    weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'conv/kernel', shape: [3, 3, 2, 3], dtype: 'float32' }, { name: 'conv/bias', shape: [3], dtype: 'float32' }] }],
  }));
  return file;
}

test('the second load reads the cache (no conversion), with the same graph, names and outputs', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-tfjs-cache-'));
  try {
    const modelDir = path.join(root, 'tiny');
    fs.mkdirSync(modelDir);
    const file = writeTinyModel(modelDir);
    const cacheDir = path.join(root, 'cache');
    const before = { ...tfjsCacheStats };

    const first = await loadTfjsAsOnnx(file, { cacheDir });
    assert.equal(tfjsCacheStats.conversions, before.conversions + 1);
    assert.ok(fs.existsSync(first.onnxPath), 'the .onnx file is written');
    assert.deepEqual(fs.readdirSync(cacheDir).map((f) => path.extname(f)).sort(), ['.json', '.onnx'], 'only the model and its sidecar, no temp files');

    const second = await loadTfjsAsOnnx(file, { cacheDir });
    assert.equal(tfjsCacheStats.conversions, before.conversions + 1, 'no second conversion');
    assert.equal(tfjsCacheStats.hits, before.hits + 1);
    assert.equal(second.onnxPath, first.onnxPath);
    assert.deepEqual(
      { input: second.inputName, output: second.outputName, layers: second.layers },
      { input: first.inputName, output: first.outputName, layers: first.layers },
    );
    assert.deepEqual(encodeModel(second.model), encodeModel(first.model));
    const input = { data: Float32Array.from({ length: 2 * 5 * 5 * 2 }, (_, i) => Math.cos(i)), dims: [2, 5, 5, 2] };
    const [a, b] = [await runOnnx(first.model, input), await runOnnx(second.model, input)];
    assertClose('cached output', b.gap, a.gap, 0);

    // changing one weight byte changes the key
    const weights = path.join(modelDir, 'weights.bin');
    const bytes = fs.readFileSync(weights);
    bytes[0] ^= 1;
    fs.writeFileSync(weights, bytes);
    const third = await loadTfjsAsOnnx(file, { cacheDir });
    assert.equal(tfjsCacheStats.conversions, before.conversions + 2);
    assert.notEqual(third.onnxPath, first.onnxPath);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
