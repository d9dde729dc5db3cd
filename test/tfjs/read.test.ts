/** model.json parsing: weight groups spread over shards, int32 and quantised (uint8/uint16/float16) weights. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readTfjsModel } from '../../src/models/tfjs/read.js';

test('weights are read by manifest name across shards and groups, and dequantised', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-tfjs-read-'));
  try {
    const float = Buffer.from(Float32Array.from([1, -2, 3.5, 0.25]).buffer);
    // group 1: one float32 weight split across two shards
    fs.writeFileSync(path.join(dir, 'g1-a'), float.subarray(0, 6));
    fs.writeFileSync(path.join(dir, 'g1-b'), float.subarray(6));
    const u16 = Buffer.alloc(6);
    [0, 100, 65535].forEach((v, i) => u16.writeUInt16LE(v, i * 2));
    const f16 = Buffer.alloc(8);
    [0x3c00, 0xc000, 0x3555, 0x7bff].forEach((v, i) => f16.writeUInt16LE(v, i * 2));
    const i32 = Buffer.from(Int32Array.from([7, -3]).buffer);
    fs.writeFileSync(path.join(dir, 'g2'), Buffer.concat([Buffer.from([0, 3, 255]), u16, f16, i32]));
    const topology = { class_name: 'Sequential', config: [{ class_name: 'Dense', config: { name: 'd', units: 1, batch_input_shape: [null, 1] } }] };
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({
      modelTopology: topology,
      weightsManifest: [
        { paths: ['g1-a', 'g1-b'], weights: [{ name: 'w', shape: [2, 2], dtype: 'float32' }] },
        { paths: ['g2'], weights: [
          { name: 'q8', shape: [3], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.5, min: -1 } },
          { name: 'q16', shape: [3], dtype: 'float32', quantization: { dtype: 'uint16', scale: 0.01, min: 2 } },
          { name: 'h', shape: [4], dtype: 'float32', quantization: { dtype: 'float16' } },
          { name: 'i', shape: [2], dtype: 'int32' },
        ] },
      ],
    }));
    const model = await readTfjsModel(path.join(dir, 'model.json'));
    const values = (name: string): number[] => [...model.weights.get(name)!.data];
    assert.deepEqual(model.weights.get('w')!.shape, [2, 2]);
    assert.deepEqual(values('w'), [1, -2, 3.5, 0.25]);
    // value = q · scale + min
    assert.deepEqual(values('q8'), [-1, 0.5, 126.5]);
    assert.deepEqual(values('q16').map((v) => Math.round(v * 1e4) / 1e4), [2, 3, 657.35]);
    // IEEE half: 0x3c00 = 1, 0xc000 = −2, 0x3555 = 1 + 341/1024 times 2⁻², 0x7bff = 65504 (largest finite)
    assert.deepEqual(values('h'), [1, -2, (1 + 341 / 1024) / 4, 65504]);
    assert.deepEqual(values('i'), [7, -3]);
    // a pre-2.2.3 Sequential (bare layer list) with the layer name inside config
    assert.equal(model.model.kind, 'sequential');
    assert.equal(model.model.layers[0].name, 'd');
    assert.deepEqual(model.weightFiles.map((f) => path.basename(f)), ['g1-a', 'g1-b', 'g2']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a truncated shard is reported with the weight and the file', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-tfjs-read-'));
  try {
    fs.writeFileSync(path.join(dir, 'w.bin'), Buffer.alloc(8));
    const file = path.join(dir, 'model.json');
    fs.writeFileSync(file, JSON.stringify({
      modelTopology: { class_name: 'Sequential', config: { name: 's', layers: [] } },
      weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'k', shape: [3], dtype: 'float32' }] }],
    }));
    await assert.rejects(readTfjsModel(file), (err: Error) => err.message.includes('weight k') && err.message.includes(file));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
