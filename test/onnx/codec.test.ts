import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { decodeModel, encodeModel, readModel } from '../../src/onnx/codec.js';
import { attr, emptyGraph, floatTensor, int64Tensor, newModel } from '../../src/onnx/types.js';
import type { Model } from '../../src/onnx/types.js';
import { GraftError } from '../../src/util/errors.js';

const { onnx } = onnxProto;
const DT = onnx.TensorProto.DataType;

/** A model written by another producer: every tensor in a typed field (float_data, int32_data, …) instead of raw_data. */
function typedFieldModel(): Uint8Array {
  return onnx.ModelProto.encode({
    irVersion: 7,
    opsetImport: [{ version: 13 }],
    graph: {
      name: 'typed',
      initializer: [
        { name: 'f', dataType: DT.FLOAT, dims: [2, 2], floatData: [1.5, -2, 0.25, 3] },
        { name: 'i8', dataType: DT.INT8, dims: [3], int32Data: [-128, 0, 127] },
        { name: 'u8', dataType: DT.UINT8, dims: [2], int32Data: [0, 255] },
        { name: 'i32', dataType: DT.INT32, dims: [2], int32Data: [-2147483648, 2147483647] },
        { name: 'b', dataType: DT.BOOL, dims: [2], int32Data: [1, 0] },
        { name: 'i64', dataType: DT.INT64, dims: [3], int64Data: [-1, 42, { low: -1, high: 0x7fffffff } as unknown as number] },
        { name: 'd', dataType: DT.DOUBLE, dims: [1], doubleData: [Math.PI] },
        { name: 'u64', dataType: DT.UINT64, dims: [1], uint64Data: [{ low: -1, high: -1, unsigned: true } as unknown as number] },
        { name: 'u32', dataType: DT.UINT32, dims: [1], uint64Data: [4294967295] },
        { name: 's', dataType: DT.STRING, dims: [2], stringData: [new TextEncoder().encode('cat'), new TextEncoder().encode('dög')] },
      ],
      output: [{ name: 'f', type: { tensorType: { elemType: DT.FLOAT, shape: { dim: [{ dimValue: 2 }, { dimValue: 2 }] } } } }],
    },
  }).finish();
}

test('tensors in typed fields (float_data, int32_data, int64_data, double_data, uint64_data, string_data) read correctly', () => {
  const init = decodeModel(typedFieldModel()).graph.initializers;
  const get = (name: string) => init.get(name)!;
  assert.deepEqual(get('f').dims, [2, 2]);
  assert.deepEqual(get('f').data, Float32Array.from([1.5, -2, 0.25, 3]));
  assert.deepEqual(get('i8').data, Int8Array.from([-128, 0, 127]));
  assert.deepEqual(get('u8').data, Uint8Array.from([0, 255]));
  assert.deepEqual(get('i32').data, Int32Array.from([-2147483648, 2147483647]));
  assert.deepEqual(get('b').data, Uint8Array.from([1, 0]));
  assert.deepEqual(get('i64').data, BigInt64Array.from([-1n, 42n, 9223372036854775807n]));
  assert.deepEqual(get('d').data, Float64Array.from([Math.PI]));
  assert.deepEqual(get('u64').data, BigUint64Array.from([18446744073709551615n]));
  assert.deepEqual(get('u32').data, Uint32Array.from([4294967295]));
  assert.deepEqual(get('s').data, ['cat', 'dög']);
});

/** Every tensor type graft writes, every attribute kind, symbolic and unknown dims, doc strings, two opset domains. */
function richModel(): Model {
  const body = emptyGraph('then');
  body.nodes.push({ name: 'c', opType: 'Constant', inputs: [], outputs: ['k'], attributes: { value: attr.t(floatTensor('kv', [1], [7])) } });
  body.outputs.push({ name: 'k', dtype: 'float32', shape: [1] });
  const g = emptyGraph('rich');
  g.docString = 'the graph';
  g.inputs.push({ name: 'x', dtype: 'float32', shape: ['N', 3, null, 224], docString: 'an image batch' });
  g.outputs.push({ name: 'y', dtype: 'float32', shape: ['N', 3] });
  g.valueInfo.push({ name: 'mid', dtype: 'int8', shape: [1, 'C'] }, { name: 'unranked', dtype: 'float16', shape: undefined });
  for (const t of [
    floatTensor('w', [2, 3], [0.5, -1, 2, 3.25, -0.125, 1e-7]),
    int64Tensor('shape', [2], [-1, 3]),
    { name: 'q', dtype: 'int8' as const, dims: [4], data: Int8Array.from([-128, -1, 0, 127]) },
    { name: 'u', dtype: 'uint8' as const, dims: [3], data: Uint8Array.from([0, 128, 255]) },
    { name: 'i', dtype: 'int32' as const, dims: [2], data: Int32Array.from([-5, 1 << 30]) },
    { name: 'h', dtype: 'float16' as const, dims: [1], data: Uint16Array.from([0x3c00]) },
    { name: 'names', dtype: 'string' as const, dims: [2], data: ['a', 'bé'] },
  ]) g.initializers.set(t.name, t);
  g.nodes.push({
    name: 'n', opType: 'Custom', domain: 'com.example', inputs: ['x', '', 'w'], outputs: ['y'], docString: 'a node',
    attributes: {
      f: attr.f(0.5), i: attr.i(-3), big: attr.i(2 ** 63), s: attr.s('héllo'), t: attr.t(int64Tensor('tv', [], [5])),
      g: { type: 'graph', value: body }, fs: attr.floats([1, -0.25]), is: attr.ints([-1, 0, 2 ** 40]), ss: attr.strings(['x', '']),
    },
  });
  const m = newModel(g, 17, { labels: '["cat","dog"]', 'graft.version': '1' });
  m.opsetImports.push({ domain: 'com.example', version: 2 });
  m.docString = 'a model';
  return m;
}

test('a model round-trips: tensors of every type, every attribute kind, symbolic dims, value_info, doc strings, opsets, metadata', () => {
  const m = richModel();
  const back = decodeModel(encodeModel(m));
  // INT64 attributes saturate: 2^63 is not an int64, it is written as INT64_MAX, which reads back as the double 2^63.
  assert.deepEqual(back, m);
  const written = onnx.ModelProto.decode(encodeModel(m)).graph?.node?.[0].attribute?.find((a) => a.name === 'big')?.i;
  assert.equal(String(written), '9223372036854775807');
});

test('aligned raw_data initializers are views on the decoded bytes; unaligned ones are copied, with the same values', () => {
  const m = richModel();
  const bytes = encodeModel(m);
  const aligned = decodeModel(bytes).graph.initializers;
  const views = [...aligned.values()].filter((t) => t.dtype !== 'string' && (t.data as Uint8Array).buffer === bytes.buffer);
  assert.ok(views.some((t) => t.name === 'q'), 'int8 data is always a view');
  // Shift the whole encoding by one byte: every multi-byte tensor is now misaligned and must be copied.
  const shifted = new Uint8Array(bytes.length + 1).subarray(1);
  shifted.set(bytes);
  const copied = decodeModel(shifted).graph.initializers;
  for (const [name, t] of copied) {
    assert.deepEqual(t.data, m.graph.initializers.get(name)!.data, name);
    if (t.dtype === 'float32' || t.dtype === 'int64') assert.equal((t.data as Float32Array).byteOffset % 4, 0, name);
  }
});

test('external data is read from the model directory; a location outside it is refused', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-codec-'));
  try {
    const weights = Float32Array.from([1, 2, 3, 4, 5, 6]);
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat([Buffer.alloc(8), Buffer.from(weights.buffer)]));
    const external = (location: string) => onnx.ModelProto.encode({
      irVersion: 8,
      opsetImport: [{ version: 17 }],
      metadataProps: [{ key: 'k', value: 'v' }],
      graph: {
        name: 'ext',
        initializer: [{
          name: 'w', dataType: DT.FLOAT, dims: [2, 3], dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
          externalData: [{ key: 'location', value: location }, { key: 'offset', value: '8' }, { key: 'length', value: '24' }],
        }],
      },
    }).finish();
    fs.writeFileSync(path.join(dir, 'model.onnx'), external('weights.bin'));
    const m = readModel(path.join(dir, 'model.onnx'));
    assert.deepEqual(m.graph.initializers.get('w')!.data, weights);
    assert.deepEqual(m.metadata, { k: 'v' });
    // Written back, the weights are inline: the copy no longer depends on weights.bin.
    assert.deepEqual(decodeModel(encodeModel(m)).graph.initializers.get('w')!.data, weights);
    fs.writeFileSync(path.join(dir, 'escape.onnx'), external('../weights.bin'));
    assert.throws(() => readModel(path.join(dir, 'escape.onnx')), (e: unknown) => e instanceof GraftError && e.code === 'MODEL_FORMAT' && /outside the model directory/.test(e.message));
    assert.throws(() => decodeModel(external('weights.bin')), /not read from a file/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bytes that are not an ONNX model give a MODEL_FORMAT error', () => {
  const isFormatError = (e: unknown) => e instanceof GraftError && e.code === 'MODEL_FORMAT';
  assert.throws(() => decodeModel(new TextEncoder().encode('{"not": "onnx"} and more text')), isFormatError);
  assert.throws(() => decodeModel(onnx.ModelProto.encode({ irVersion: 8 }).finish()), isFormatError);
  assert.throws(() => decodeModel(encodeModel(richModel()).subarray(0, 200)), isFormatError);
});
