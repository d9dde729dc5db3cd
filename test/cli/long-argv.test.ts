import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { graft } from '../helpers/cli.js';
import { catsDogs } from '../helpers/paths.js';

// onnxruntime-node's Linux telemetry parses /proc/self/cmdline and overflows the stack (SIGSEGV, exit 139) once
// argv passes ~30 KB. graft must turn telemetry off itself, so these children run WITHOUT ORT_DISABLE_TELEMETRY.
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-argv-'));
const env: Record<string, string> = Object.fromEntries(
  Object.entries({ ...process.env, GRAFT_CACHE: path.join(work, 'cache') }).filter(([k, v]) => k !== 'ORT_DISABLE_TELEMETRY' && v !== undefined),
) as Record<string, string>;
const validation = path.join(catsDogs, 'validation');
const absolute = ['cats', 'dogs'].flatMap((c) => fs.readdirSync(path.join(validation, c)).sort().map((f) => path.resolve(validation, c, f)));

function withoutTelemetryVar(args: string[]) {
  const saved = process.env.ORT_DISABLE_TELEMETRY;
  delete process.env.ORT_DISABLE_TELEMETRY; // graft() spreads process.env into the child
  try {
    return graft(args, env);
  } finally {
    if (saved !== undefined) process.env.ORT_DISABLE_TELEMETRY = saved;
  }
}

test('classify with 1,000 absolute paths (a command line over 60 KB) returns 1,000 results and exits 0', () => {
  const args = ['classify', ...absolute, '--top', '1', '--json'];
  assert.equal(absolute.length, 1000);
  assert.ok(args.join(' ').length > 60_000, `command line is ${args.join(' ').length} bytes`);
  const r = withoutTelemetryVar(args);
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr.slice(-2000)}`);
  const results = JSON.parse(r.stdout) as { image: string; predictions: unknown[] }[];
  assert.equal(results.length, 1000);
  assert.deepEqual(results.map((x) => x.image), absolute);
  assert.ok(results.every((x) => x.predictions.length === 1));
});

test('classify accepts a folder: every image inside, recursively, in a stable order', () => {
  // One class folder keeps the suite short; the recursion is the same for the whole validation tree.
  const r = withoutTelemetryVar(['classify', path.join(validation, 'cats'), '--top', '1', '--json']);
  assert.equal(r.code, 0, r.stderr.slice(-2000));
  const results = JSON.parse(r.stdout) as { image: string }[];
  assert.equal(results.length, 500);
  assert.deepEqual(results.map((x) => path.resolve(x.image)), absolute.slice(0, 500));
});

test('a path given twice is classified twice, and an unreadable one is reported at its own position', () => {
  const dir = path.join(work, 'mixed');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'broken.jpg'), 'not a jpeg');
  const good = absolute[0];
  const broken = path.join(dir, 'broken.jpg');
  const r = withoutTelemetryVar(['classify', good, broken, good, broken, '--top', '1', '--json']);
  assert.equal(r.code, 1, 'an unreadable image makes the exit code 1');
  const results = JSON.parse(r.stdout) as { image: string; error?: string; predictions: unknown[] }[];
  assert.deepEqual(results.map((x) => Boolean(x.error)), [false, true, false, true]);
  assert.deepEqual(results.map((x) => x.predictions.length), [1, 0, 1, 0]);
});
