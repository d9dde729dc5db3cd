import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { graft } from '../helpers/cli.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-bench-cli-'));
const env = { GRAFT_CACHE: path.join(work, 'cache') };

interface BenchJson {
  what: string; model: string; batch: number; threads: number; warmup: number; iterations: number;
  detail: string; medianMs: number; msPerImage: number; imagesPerSecond: number; timesMs: number[]; params?: number;
  profile?: { kernelMs: number; ops: { op: string; phase: string; ms: number }[] };
}

function bench(args: string[]): BenchJson {
  const r = graft(['bench', ...args, '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as BenchJson;
}

test('graft bench forward --json: one object whose rates follow from its own timings', () => {
  const r = bench(['forward', '--batch', '2', '--threads', '1', '--warmup', '0', '--iterations', '3']);
  assert.equal(r.what, 'forward');
  assert.equal(r.model, 'mobilenet_v1_0.75');
  assert.deepEqual([r.batch, r.threads, r.warmup, r.iterations, r.timesMs.length], [2, 1, 0, 3, 3]);
  assert.equal(r.medianMs, [...r.timesMs].sort((a, b) => a - b)[1]);
  assert.ok(Math.abs(r.msPerImage * 2 - r.medianMs) < 1e-9);
  assert.ok(Math.abs(r.imagesPerSecond * r.msPerImage - 1000) < 1e-6);
});

test('graft bench train-step --profile: per-op breakdown with forward and backward Conv time', () => {
  const dir = path.join(work, 'profile');
  const r = bench(['train-step', '--batch', '1', '--warmup', '0', '--iterations', '1', '--profile', dir]);
  assert.equal(r.what, 'train-step');
  assert.ok(r.params! > 2_000_000, `all MobileNet weights are trained, got ${r.params}`);
  assert.ok(r.profile && r.profile.kernelMs > 0);
  const phases = new Set(r.profile.ops.filter((o) => o.op.startsWith('Conv') || o.op === 'FusedConv').map((o) => o.phase));
  assert.deepEqual([...phases].sort(), ['backward', 'forward']);
  assert.ok(r.profile.ops.some((o) => o.op.endsWith(' dW')), 'weight-gradient nodes are reported as their own rows');
  assert.ok(fs.readdirSync(dir).some((f) => f.endsWith('.json')));
});

test("graft bench head --json: graft train's default head (CV-selected, refitted) timed per labelled image", () => {
  const r = bench(['head', '--batch', '74', '--threads', '1', '--warmup', '0', '--iterations', '1']);
  assert.equal(r.what, 'head');
  assert.deepEqual([r.batch, r.threads, r.timesMs.length], [74, 1, 1]);
  assert.ok(Math.abs(r.msPerImage * 74 - r.medianMs) < 1e-9);
  assert.match(r.detail, /5-fold CV/);
});

test('graft bench with an unknown kind exits with a clear error', () => {
  const r = graft(['bench', 'nonsense'], env);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /forward, input-grad, train-step, extract, head/);
});
