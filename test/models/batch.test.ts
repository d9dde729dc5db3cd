/** Imported models with a batch fixed at 1 run at any batch size; 1000-class outputs get the ImageNet names. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeModel } from '../../src/onnx/codec.js';
import { GraphBuilder } from '../../src/onnx/graph.js';
import { inferShapes } from '../../src/onnx/shapes.js';
import { attr, emptyGraph, newModel, type Dim, type Model } from '../../src/onnx/types.js';
import { symbolicBatch } from '../../src/models/batch.js';
import { classCount, loadModel } from '../../src/models/load.js';
import { Session, asFloat32, float32 } from '../../src/runtime/session.js';
import { sharedModels } from '../helpers/paths.js';

process.env.GRAFT_MODELS ??= sharedModels;

/**
 * A classifier as old exporters write it: input [1,3,8,8], Conv, Reshape to the constant [1, -1] (traced with
 * batch 1), Gemm to `classes` outputs, then `outShape` (e.g. [1, classes, 1, 1] as Caffe-style models end).
 */
function fixedBatchClassifier(classes: number, outShape?: number[]): Model {
  const g = emptyGraph('fixed');
  const b = new GraphBuilder(g);
  b.input('data', 'float32', [1, 3, 8, 8]);
  const w = Float32Array.from({ length: 4 * 3 * 3 * 3 }, (_, i) => Math.sin(i));
  const conv = b.op('Conv', ['data', b.initializer({ name: 'w', dtype: 'float32', dims: [4, 3, 3, 3], data: w })], { pads: attr.ints([1, 1, 1, 1]) });
  const flat = b.op('Reshape', [conv, b.constInt64('flat_shape', [1, -1])]);
  const fc = Float32Array.from({ length: 4 * 64 * classes }, (_, i) => Math.cos(i) / 16);
  let out = b.op('Gemm', [flat, b.initializer({ name: 'fc', dtype: 'float32', dims: [classes, 4 * 64], data: fc })], { transB: attr.i(1) });
  if (outShape) out = b.op('Reshape', [out, b.constInt64('out_shape', outShape)]);
  b.node('Identity', [out], {}, { outputs: ['scores'] });
  b.output('scores', 'float32', outShape ?? [1, classes]);
  return newModel(g, 17);
}

function input(batch: number): Float32Array {
  return Float32Array.from({ length: batch * 3 * 64 }, (_, i) => Math.sin(i * 0.37));
}

test('shape inference keeps a symbolic batch through residual Adds and spatial-only Pads', () => {
  const g = emptyGraph('sym');
  const b = new GraphBuilder(g);
  b.input('x', 'float32', ['N', 2, 4, 4]);
  const padded = b.op('Pad', ['x', b.constInt64('pads', [0, 0, 1, 1, 0, 0, 1, 1])]);
  const sum = b.op('Add', [padded, padded]);
  const shapes = inferShapes(g);
  assert.deepEqual(shapes.get(padded)?.shape, ['N', 2, 6, 6]);
  assert.deepEqual(shapes.get(sum)?.shape, ['N', 2, 6, 6]);
  const unknown: Dim[] = [null, 2];
  const g2 = emptyGraph('unknown');
  const b2 = new GraphBuilder(g2);
  b2.input('y', 'float32', unknown);
  const doubled = b2.op('Add', ['y', 'y']);
  assert.deepEqual(inferShapes(g2).get(doubled)?.shape, [null, 2], 'an unknown dim stays unknown, never 1');
});

test('a model whose batch is fixed at 1 (input, Reshape [1,-1], output) predicts at batch 1, 3 and 32 after loading', async () => {
  const model = fixedBatchClassifier(5);
  const reference = await Session.create(fixedBatchClassifier(5));
  const one = asFloat32((await reference.run({ data: float32(input(1), [1, 3, 8, 8]) })).scores);
  await assert.rejects(reference.run({ data: float32(input(3), [3, 3, 8, 8]) }), 'as exported, batch 3 is refused');
  await reference.release();

  assert.deepEqual(symbolicBatch(model).length, 1, 'the Reshape to [1, -1] is rewritten');
  assert.equal(model.graph.inputs[0].shape?.[0], 'N');
  assert.equal(model.graph.outputs[0].shape?.[0], 'N');
  const session = await Session.create(model);
  for (const batch of [1, 3, 32]) {
    const out = (await session.run({ data: float32(input(batch), [batch, 3, 8, 8]) })).scores;
    assert.deepEqual([...out.dims], [batch, 5]);
    // row 0 is the same image in every batch: the rewrite changes no value
    asFloat32(out).slice(0, 5).forEach((v, k) => assert.ok(Math.abs(v - one[k]) < 1e-5));
  }
  await session.release();
});

test('a 1000-class ONNX file without labels is labelled with the ImageNet names, also when its output is [N, 1000, 1, 1]', async (t) => {
  if (!fs.existsSync(path.join(sharedModels, 'imagenet_classes.json'))) return t.skip('shared imagenet_classes.json missing');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-labels-'));
  try {
    for (const outShape of [undefined, [1, 1000, 1, 1]]) {
      const file = path.join(dir, `c${outShape ? 4 : 2}.onnx`);
      await writeModel(fixedBatchClassifier(1000, outShape), file);
      const m = await loadModel(file);
      assert.equal(classCount(m.model, m.outputName), 1000);
      assert.equal(m.labels.length, 1000);
      assert.equal(m.labels[281], 'tabby, tabby cat');
    }
    const small = path.join(dir, 'small.onnx');
    await writeModel(fixedBatchClassifier(7), small);
    assert.deepEqual((await loadModel(small)).labels, Array.from({ length: 7 }, (_, i) => `class ${i}`));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
