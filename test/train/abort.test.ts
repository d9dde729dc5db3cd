import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { trainClassifier } from '../../src/train/frozen-backbone.js';
import type { ProgressSink } from '../../src/util/progress.js';
import { catsDogs, sharedModels } from '../helpers/paths.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-abort-'));
after(() => fs.rmSync(work, { recursive: true, force: true }));

test('trainClassifier: an abort during extraction rejects, writes no model, keeps the features extracted so far; onEpoch sees every epoch', async () => {
  process.env.GRAFT_MODELS = sharedModels;
  process.env.GRAFT_CACHE = path.join(work, 'cache');
  const data = path.join(work, 'pets');
  for (const cls of ['cats', 'dogs']) {
    fs.mkdirSync(path.join(data, cls), { recursive: true });
    for (let i = 0; i < 10; i++) fs.copyFileSync(path.join(catsDogs, 'train', cls, `${cls.slice(0, 3)}.${200 + i}.jpg`), path.join(data, cls, `${i}.jpg`));
  }
  const controller = new AbortController();
  // Abort as soon as the first images are through: the check after each batch must stop the run.
  const abortingProgress: ProgressSink = {
    start: () => ({ update() {}, increment() { if (!controller.signal.aborted) controller.abort(new Error('stop')); }, finish() {} }),
  };
  const out = path.join(work, 'out');
  await assert.rejects(trainClassifier(data, { out, solver: 'sgd', epochs: 3, batchSize: 4, signal: controller.signal, progress: abortingProgress }), /stop/);
  assert.ok(!fs.existsSync(path.join(out, 'model.onnx')), 'no model from an aborted run');
  const index = fs.readdirSync(path.join(work, 'cache'), { recursive: true }).map(String).find((f) => f.endsWith('index.json'));
  assert.ok(index, 'the feature cache index was written');
  const rows = Object.keys((JSON.parse(fs.readFileSync(path.join(work, 'cache', index), 'utf8')) as { rows: object }).rows).length;
  assert.ok(rows > 0 && rows < 20, `features kept for the batches done before the abort: ${rows}`);

  const epochs: number[] = [];
  const report = await trainClassifier(data, { out, solver: 'sgd', epochs: 3, batchSize: 4, onEpoch: (row) => epochs.push(row.epoch) });
  assert.deepEqual(epochs, [1, 2, 3]);
  assert.equal(report.timing.cachedImages, rows, 'the second run reuses what the aborted one extracted');
});
