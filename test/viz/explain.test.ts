import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { writeModel } from '../../src/onnx/codec.js';
import { Session, asFloat32, float32 } from '../../src/runtime/session.js';
import { readNpy, writeNpy } from '../../src/util/npy.js';
import { Rng } from '../../src/util/rng.js';
import { gradCam } from '../../src/viz/explain/gradcam.js';
import { integratedGradients } from '../../src/viz/explain/integrated-gradients.js';
import { graft } from '../helpers/cli.js';
import { catsDogs } from '../helpers/paths.js';
import { TINY_CLASSES, TINY_FEATURES, tinyModel } from './tiny-model.js';
import type { GraftModel } from '../../src/models/load.js';

const DIMS = [1, 3, 8, 8];

function randomInput(seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: 192 }, () => rng.normal());
}

/** A forward session returning one named tensor. */
async function tensorSession(m: GraftModel, tensor: string): Promise<(x: Float32Array) => Promise<Float32Array>> {
  const s = await Session.create({ ...m.model, graph: { ...m.model.graph, outputs: [{ name: tensor, dtype: 'float32' }] } });
  return async (x) => asFloat32((await s.run({ input: float32(x, DIMS) }))[tensor]);
}

for (const output of ['logits', 'probabilities'] as const) {
  test(`explain --save-gradient on a ${output} ONNX file: d logit / d input agrees with central differences`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-explain-'));
    try {
      const m = tinyModel(3, 'Tanh', output);
      const file = path.join(dir, 'tiny.onnx');
      await writeModel(m.model, file);
      const x = randomInput(4);
      writeNpy(path.join(dir, 'x.npy'), x, DIMS);
      const r = graft(['explain', '--model', file, '--input-tensor', path.join(dir, 'x.npy'), '--class', '2', '--save-gradient', path.join(dir, 'g.npy'), '--out', path.join(dir, 'heat.png'), '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).class, 2);
      assert.ok(fs.statSync(path.join(dir, 'heat.png')).size > 0);
      const g = readNpy(path.join(dir, 'g.npy'));
      assert.deepEqual(g.shape, DIMS);
      const logits = await tensorSession(m, output === 'logits' ? m.outputName : 'conv_preds');
      const rng = new Rng(5);
      for (let k = 0; k < 3; k++) {
        const d = Float32Array.from({ length: 192 }, () => rng.normal());
        const eps = 1e-2;
        const up = (await logits(x.map((v, i) => v + eps * d[i])))[2];
        const down = (await logits(x.map((v, i) => v - eps * d[i])))[2];
        const fd = (up - down) / (2 * eps);
        const analytic = g.data.reduce((s, v, i) => s + v * d[i], 0);
        assert.ok(Math.abs(fd - analytic) < 1e-2 * Math.abs(analytic) + 1e-3, `fd ${fd} vs ${analytic}`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('integrated gradients: completeness Σ attributions ≈ f(x) − f(baseline)', async () => {
  const m = tinyModel(6, 'Relu');
  for (const baseline of ['black', 'zero'] as const) {
    const ig = await integratedGradients(m, randomInput(7), 1, { steps: 64, baseline, batch: 16 });
    const sum = ig.attribution.reduce((s, v) => s + v, 0);
    const delta = ig.logit - ig.baselineLogit;
    assert.ok(Math.abs(delta) > 0.05, `degenerate test: Δ = ${delta}`);
    assert.ok(Math.abs(sum - delta) < 0.02 * Math.abs(delta), `${baseline}: Σ ${sum} vs Δ ${delta}`);
    assert.equal(ig.heat.length, 64);
  }
});

test('Grad-CAM equals the hand computation from the feature map and its gradient', async () => {
  const m = tinyModel(8, 'Relu');
  const x = randomInput(9);
  const cls = 4;
  const cam = await gradCam(m, x, cls);
  const fmap = await (await tensorSession(m, m.taps.lastConv))(x);
  fmap.forEach((v, i) => assert.ok(Math.abs(cam.featureMap[i] - v) < 1e-5));
  // The head is global average pooling then a dense layer: d logit_c / d A[k, i] = W[c, k] / area.
  const w = m.model.graph.initializers.get('fc_w')!.data as Float32Array;
  cam.featureGradient.forEach((g, i) => assert.ok(Math.abs(g - w[cls * TINY_FEATURES + Math.floor(i / 64)] / 64) < 1e-6));
  assert.deepEqual(cam.hw, [8, 8]);
  for (let p = 0; p < 64; p++) {
    let s = 0;
    for (let k = 0; k < TINY_FEATURES; k++) {
      const alpha = cam.featureGradient.slice(k * 64, (k + 1) * 64).reduce((a, b) => a + b, 0) / 64;
      s += alpha * fmap[k * 64 + p];
    }
    assert.ok(Math.abs(cam.heat[p] - Math.max(0, s)) < 1e-6);
  }
  assert.equal(cam.logits.length, TINY_CLASSES);
});

test('explain on MobileNet v1: a cat photo is explained as a cat (Grad-CAM overlay written)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-explain-'));
  try {
    const img = path.join(catsDogs, 'validation/cats/cat.2000.jpg');
    const r = graft(['explain', img, '--method', 'gradcam', '--out', path.join(dir, 'cam.png'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { class: number; label: string };
    assert.ok(j.class >= 281 && j.class <= 285, j.label);
    assert.ok(fs.statSync(path.join(dir, 'cam.png')).size > 1000);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

