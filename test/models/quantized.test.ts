/** The int8 MobileNetV2 as a feature extractor: every tap is float, a head learns cats vs dogs, fine-tuning is refused clearly. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadModel, tapTensor } from '../../src/models/load.js';
import { inferShapes } from '../../src/onnx/shapes.js';
import { producers } from '../../src/onnx/order.js';
import { batchDims } from '../../src/image/layout.js';
import { Session, asFloat32, float32 } from '../../src/runtime/session.js';
import { backboneAt } from '../../src/train/extract.js';
import { trainClassifier } from '../../src/train/frozen-backbone.js';
import { selectUnfrozen } from '../../src/train/finetune/params.js';
import { trainEndToEnd } from '../../src/train/finetune/pipeline.js';
import { catsDogs, sharedModels } from '../helpers/paths.js';

process.env.GRAFT_MODELS ??= sharedModels;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-int8-'));
process.env.GRAFT_CACHE = path.join(work, 'cache');
after(() => fs.rmSync(work, { recursive: true, force: true }));

const haveInt8 = fs.existsSync(path.join(sharedModels, 'mobilenetv2-12-int8.onnx'));

/** A few dozen cats-vs-dogs images (the first `n` of each class and split), linked into a fresh folder. */
function smallCatsDogs(train: number, validation: number): string {
  const root = path.join(work, `cd-${train}-${validation}`);
  for (const [split, n] of [['train', train], ['validation', validation]] as const) {
    for (const cls of ['cats', 'dogs']) {
      const dir = path.join(root, split, cls);
      fs.mkdirSync(dir, { recursive: true });
      for (const f of fs.readdirSync(path.join(catsDogs, split, cls)).sort().slice(0, n)) fs.symlinkSync(path.join(catsDogs, split, cls, f), path.join(dir, f));
    }
  }
  return root;
}

test('int8 model: features, lastConv and a tap on any uint8 tensor read float32 through DequantizeLinear', async (t) => {
  if (!haveInt8) return t.skip('shared int8 model missing');
  const m = await loadModel('mobilenetv2_int8');
  const g = m.model.graph;
  const prod = producers(g);
  for (const tap of ['features', 'lastConv']) {
    const tensor = tapTensor(m, tap);
    assert.equal(prod.get(tensor)?.opType, 'DequantizeLinear', `${tap} is a dequantised tensor`);
    assert.equal(inferShapes(g).get(tensor)?.dtype, 'float32', `${tap} is float`);
  }
  // A quantised tensor in the middle of the network (the output of a QLinearConv) as --tap.
  const inner = g.nodes.filter((n) => n.opType === 'QLinearConv')[30].outputs[0];
  assert.equal(inferShapes(g).get(inner)?.dtype, 'uint8');
  for (const tap of ['features', inner]) {
    const backbone = backboneAt(m, tap);
    const session = await Session.create(backbone.model);
    for (const batch of [1, 3]) {
      const dims = batchDims(batch, m.preprocess);
      const x = Float32Array.from({ length: dims.reduce((a, d) => a * d, 1) }, (_, i) => Math.sin(i * 0.01));
      const out = (await session.run({ [m.inputName]: float32(x, dims) }))[backbone.output];
      assert.equal(out.type, 'float32');
      assert.deepEqual([...out.dims], [batch, backbone.dim]);
      assert.ok(asFloat32(out).some((v) => v !== 0) && asFloat32(out).every(Number.isFinite));
    }
    await session.release();
  }
  assert.equal(backboneAt(m, 'features').dim, 1280);
});

test('int8 model as a frozen feature extractor: a head on 2×16 cat/dog images classifies 2×10 unseen ones', async (t) => {
  if (!haveInt8 || !fs.existsSync(catsDogs)) return t.skip('shared int8 model or cats_and_dogs_filtered missing');
  const report = await trainClassifier(smallCatsDogs(16, 10), { model: 'mobilenetv2_int8', out: path.join(work, 'head'), plots: false });
  assert.ok(report.val, 'report.val');
  assert.equal(report.val.n, 20);
  // ImageNet features separate cats from dogs easily (97 % on the full validation set); 16 of 20 is a loose floor.
  assert.ok(report.val.accuracy >= 0.8, `validation accuracy ${report.val.accuracy}`);
});

test('fine-tuning the int8 model is a clear error, raised before any frozen-head work', async (t) => {
  if (!haveInt8) return t.skip('shared int8 model missing');
  const m = await loadModel('mobilenetv2_int8');
  assert.throws(() => selectUnfrozen(backboneAt(m, 'features').model.graph, { blocks: 1 }), (e: Error & { code?: string }) => e.code === 'UNSUPPORTED_OP' && /quantised.*cannot be fine-tuned/.test(e.message));
  const out = path.join(work, 'ft');
  await assert.rejects(trainEndToEnd(path.join(work, 'no-such-dataset'), { model: m, out }), /quantised/);
  assert.ok(!fs.existsSync(out), 'nothing written');
});
