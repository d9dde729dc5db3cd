import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadModel } from '../../src/models/load.js';
import { extractFeatures } from '../../src/train/extract.js';
import { predictFiles } from '../../src/predict/saved.js';
import { trainClassifier } from '../../src/train/frozen-backbone.js';
import { readNpy } from '../../src/util/npy.js';
import { graft } from '../helpers/cli.js';
import { repoRoot, sharedModels } from '../helpers/paths.js';
import { readJsonLines, smallCatsDogs } from './fixtures.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-scale-'));
const cache = path.join(work, 'cache');
const env = { GRAFT_CACHE: cache, GRAFT_THREADS: '1' };

before(() => {
  process.env.GRAFT_MODELS = sharedModels;
  process.env.GRAFT_CACHE = cache;
});

interface IndexRow { row: number; image: string; class: string; split: string }

/** Waits until `pred` holds, polling every `ms`. */
async function until(pred: () => boolean, what: string, timeoutMs = 120_000, ms = 5): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, ms));
  }
}

test('a shard SIGKILLed mid-way: status names it, merge refuses, a rerun completes it with no duplicate or lost row', async () => {
  // 15 images per class and split + bad.jpg = 61 images, 3 shards of 20–21, batch 1: the killed shard is caught between batches.
  const data = smallCatsDogs(path.join(work, 'data'), 15);
  const P = path.join(work, 'plan');
  let r = graft(['plan', 'extract', data, '--out', P, '--shards', '3', '--batch', '1', '--emit', 'slurm,k8s'], env);
  assert.equal(r.code, 0, r.stderr);
  for (const f of ['plan.json', 'manifest.jsonl', 'slurm.sh', 'k8s-job.yaml']) assert.ok(fs.existsSync(path.join(P, f)), f);
  const manifest = readJsonLines<{ image: string; class: string; split: string }>(path.join(P, 'manifest.jsonl'));
  assert.equal(manifest.length, 61);
  assert.deepEqual(manifest.map((e) => e.image), [...manifest.map((e) => e.image)].sort(), 'manifest is sorted');

  r = graft(['shard', P, '--index', '0'], env);
  assert.equal(r.code, 0, r.stderr);
  r = graft(['shard', P, '--index', 'auto'], { ...env, JOB_COMPLETION_INDEX: '2' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^shard 2: \d+ rows/);

  // Shard 1 is killed once it has written part of its output.
  const dir1 = path.join(P, 'shards', 'shard-00001');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/cli/run.ts'), 'shard', P, '--index', '1'], {
    cwd: repoRoot, env: { ...process.env, ...env }, stdio: 'ignore',
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  const partial = () => (fs.existsSync(dir1) ? fs.readdirSync(dir1).filter((f) => f.includes('.partial-')) : []);
  await until(() => partial().some((f) => fs.statSync(path.join(dir1, f)).size > 0), 'shard 1 to write its first rows');
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  assert.ok(!fs.existsSync(path.join(dir1, 'done.json')), 'killed before its marker');

  r = graft(['status', P], env);
  assert.equal(r.code, 3, r.stdout + r.stderr);
  assert.match(r.stdout, /shard 1 missing: no done marker; partial output of an interrupted attempt/);
  assert.match(r.stdout, /^--array=1$/m);
  const status = JSON.parse(graft(['status', P, '--json'], env).stdout);
  assert.deepEqual(status.missing, [1]);
  r = graft(['merge', P], env);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /1 of 3 shards are not done: 1 /);
  assert.ok(!fs.existsSync(path.join(P, 'merged', 'features.npy')));

  // A duplicate of a finished shard is skipped; the rerun of shard 1 completes the plan.
  const marker0 = fs.readFileSync(path.join(P, 'shards', 'shard-00000', 'done.json'), 'utf8');
  r = graft(['shard', P, '--index', '0'], env);
  assert.match(r.stdout, /already done/);
  assert.equal(fs.readFileSync(path.join(P, 'shards', 'shard-00000', 'done.json'), 'utf8'), marker0);
  r = graft(['shard', P, '--index', '1'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(graft(['status', P], env).code, 0);
  r = graft(['merge', P], env);
  assert.equal(r.code, 0, r.stderr);

  const { data: merged, shape } = readNpy(path.join(P, 'merged', 'features.npy'));
  const index = readJsonLines<IndexRow>(path.join(P, 'merged', 'index.jsonl'));
  const failures = readJsonLines<{ image: string; reason: string }>(path.join(P, 'merged', 'failures.jsonl'));
  assert.deepEqual(failures.map((f) => f.image), ['train/cats/bad.jpg']);
  assert.equal(shape[0], 60);
  assert.equal(index.length, 60);
  // Every manifest image exactly once: as a row or as a failure.
  const accounted = [...index.map((x) => x.image), ...failures.map((f) => f.image)].sort();
  assert.deepEqual(accounted, manifest.map((e) => e.image).sort());
  assert.equal(new Set(accounted).size, accounted.length, 'no duplicates');
  assert.deepEqual(index.map((x) => x.row), index.map((_, i) => i));
  for (const x of index) assert.deepEqual([x.class, x.split], [x.image.split('/')[1], x.image.split('/')[0]]);

  // The same rows as one process extracting every image (graft train's path).
  const model = await loadModel('mobilenet_v1_0.75');
  const files = index.map((x) => path.join(data, x.image));
  const single = await extractFeatures(model, files);
  assert.equal(single.rows.length, files.length);
  assert.equal(shape[1], single.dim);
  let maxDiff = 0;
  for (let i = 0; i < merged.length; i++) maxDiff = Math.max(maxDiff, Math.abs(merged[i] - single.x[i]));
  assert.ok(maxDiff <= 1e-5, `max |Δ| ${maxDiff}`);

  // graft train --features trains from the merged rows with the plan's split.
  r = graft(['train', '--features', P, '--epochs', '5', '--out', path.join(work, 'model'), '--json', '--no-plots'], env);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.timing.extractedImages, 0);
  assert.equal(report.dataset.counts.train, 31);
  assert.equal(report.val.n, 30);
  assert.ok(fs.existsSync(path.join(work, 'model', 'model.onnx')));
});

test('plan predict: merged predictions.jsonl has one line per image in manifest order, equal to graft predict', async () => {
  const data = smallCatsDogs(path.join(work, 'pdata'), 6, false);
  const modelDir = path.join(work, 'classifier');
  await trainClassifier(data, { out: modelDir, epochs: 3, plots: false });
  const modelFile = path.join(modelDir, 'model.onnx');
  const images = path.join(data, 'validation');
  fs.writeFileSync(path.join(images, 'cats', 'broken.png'), 'no');
  const P = path.join(work, 'pplan');
  let r = graft(['plan', 'predict', modelFile, images, '--out', P, '--shards', '2', '--top', '2'], env);
  assert.equal(r.code, 0, r.stderr);
  for (const k of ['0', '1']) assert.equal(graft(['shard', P, '--index', k], env).code, 0);
  r = graft(['merge', P], env);
  assert.equal(r.code, 0, r.stderr);
  const lines = readJsonLines<{ image: string; predictions: { label: string; probability: number }[]; error?: string }>(path.join(P, 'merged', 'predictions.jsonl'));
  const manifest = readJsonLines<{ image: string }>(path.join(P, 'manifest.jsonl'));
  assert.deepEqual(lines.map((l) => l.image), manifest.map((e) => e.image));
  assert.equal(lines.length, 13);
  const direct = await predictFiles(modelFile, manifest.map((e) => path.join(images, e.image)), { top: 2 });
  lines.forEach((l, i) => {
    if (direct[i].error) return assert.ok(l.error && l.predictions.length === 0, l.image);
    assert.equal(l.predictions[0].label, direct[i].predictions[0].label, l.image);
    assert.ok(Math.abs(l.predictions[0].probability - direct[i].predictions[0].probability) < 1e-5);
  });
  assert.equal(lines.filter((l) => l.error).length, 1);
});
