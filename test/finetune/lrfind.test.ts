/** lr-find --fine-tune: the range test of end-to-end fine-tuning on a tiny backbone and a synthetic dataset. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { lrFindFineTune } from '../../src/train/finetune/lrfind.js';
import { syntheticDataset, tinyBackbone } from './synthetic.js';

process.env.GRAFT_THREADS = '1';

test('lr-find --fine-tune sweeps the lr geometrically over head + backbone, stops when the loss explodes, plots, and leaves the model untouched', async () => {
  const root = await syntheticDataset({ train: 12, validation: 2 }, 4);
  process.env.GRAFT_CACHE ??= path.join(root, 'cache');
  const model = tinyBackbone();
  const before = new Map([...model.model.graph.initializers].map(([n, t]) => [n, Float32Array.from(t.data as Float32Array)]));
  const out = path.join(root, 'lr.png');
  const steps = 40;
  const r = await lrFindFineTune(root, { model, steps, batchSize: 8, startLr: 1e-6, endLr: 1e4, seed: 3, out });
  const ratio = (1e4 / 1e-6) ** (1 / (steps - 1));
  assert.equal(r.points[0].lr, 1e-6);
  for (let i = 1; i < r.points.length; i++) assert.ok(Math.abs(r.points[i].lr / r.points[i - 1].lr / ratio - 1) < 1e-9, `step ${i}: geometric lr`);
  assert.ok(r.stoppedEarly && r.points.length < steps, `Adam at lr up to 1e4 must blow the loss up (${r.points.length} points)`);
  assert.ok(r.points.every((p) => Number.isFinite(p.loss) && p.loss >= 0));
  assert.ok(r.suggested > r.points[0].lr && r.suggested < r.points.at(-1)!.lr, `suggested ${r.suggested}`);
  assert.ok(r.suggested <= r.minimum, `suggested ${r.suggested} is not after the minimum ${r.minimum}`);
  assert.ok(r.blocks.length > 1 && r.images === 24, JSON.stringify({ blocks: r.blocks, images: r.images }));
  assert.deepEqual([...fs.readFileSync(out).subarray(1, 4)], [...Buffer.from('PNG')]);
  for (const [name, t] of model.model.graph.initializers) {
    assert.ok((t.data as Float32Array).every((v, i) => Object.is(v, before.get(name)![i])), `${name} unchanged: the sweep works on copies`);
  }
});
