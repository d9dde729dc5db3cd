/**
 * How long 1 M images take per shard count, by simulation on one machine:
 *   t0  per-shard overhead: wall time of `graft shard` on a 1-image shard (process start, model load, session, marker)
 *   t1  per-image time of one shard with one onnxruntime thread (as slurm.sh runs it): (T(M) − t0) / (M − 1)
 *   tm  merge time per row: slope between merging M and 10 rows in process (shard reads, sha256 checks, writes)
 * Extrapolation (merge start-up, a few seconds, not included), assuming one CPU per shard, every shard running at once and a file system that keeps up:
 *   wall(N) = t0 + ceil(1e6 / N)·t1 + 1e6·tm,   CPU time(N) = N·t0 + 1e6·t1.
 * Also runs 2 shards at once on this machine to show how far two processes scale on its cores.
 * Usage: node --import tsx bench/scale-sim.ts [M=400]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mergePlan } from '../src/scale/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.GRAFT_SHARED ?? path.resolve(root, '..', 'shared');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-scale-sim-'));
const env = { ...process.env, GRAFT_MODELS: process.env.GRAFT_MODELS ?? path.join(shared, 'models'), GRAFT_CACHE: process.env.GRAFT_CACHE ?? path.join(work, 'cache'), GRAFT_THREADS: '1' };
const M = Number(process.argv[2] ?? 400);

function graft(args: string[]): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/run.ts'), ...args], { cwd: root, env, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', (code) => (code === 0 ? resolve((performance.now() - started) / 1000) : reject(new Error(`graft ${args.join(' ')} exited ${code}`))));
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (s: number) => (s >= 3600 ? `${(s / 3600).toFixed(1)} h` : s >= 60 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(1)} s`);

const images = path.join(work, 'images');
fs.mkdirSync(images);
const train = path.join(shared, 'datasets', 'cats_and_dogs_filtered', 'train');
const all = ['cats', 'dogs'].flatMap((c) => fs.readdirSync(path.join(train, c)).sort().map((f) => path.join(train, c, f)));
for (const f of all.slice(0, M)) fs.symlinkSync(f, path.join(images, path.basename(f)));
const loads: number[] = [os.loadavg()[0]];

await graft(['plan', 'extract', images, '--out', path.join(work, 'one'), '--shards', '1']);
await graft(['plan', 'extract', images, '--out', path.join(work, 'tiny'), '--shards', String(M)]);
await graft(['plan', 'extract', images, '--out', path.join(work, 'two'), '--shards', '2']);
const t0s: number[] = [];
for (let k = 0; k < 5; k++) t0s.push(await graft(['shard', path.join(work, 'tiny'), '--index', String(k)]));
const t0 = median(t0s);
loads.push(os.loadavg()[0]);
const tM = await graft(['shard', path.join(work, 'one'), '--index', '0']);
const t1 = (tM - t0) / (M - 1);
loads.push(os.loadavg()[0]);
const twoStarted = performance.now();
await Promise.all([graft(['shard', path.join(work, 'two'), '--index', '0']), graft(['shard', path.join(work, 'two'), '--index', '1'])]);
const tTwo = (performance.now() - twoStarted) / 1000;
const tMerge = await graft(['merge', path.join(work, 'one')]);
const tStatus = await graft(['status', path.join(work, 'one')]);
// The per-row part of the merge: the slope between merging M rows and merging SMALL rows, in this process (median of 3).
const SMALL = 10;
const small = path.join(work, 'small-images');
fs.mkdirSync(small);
for (const f of all.slice(0, SMALL)) fs.symlinkSync(f, path.join(small, path.basename(f)));
await graft(['plan', 'extract', small, '--out', path.join(work, 'small'), '--shards', '1']);
await graft(['shard', path.join(work, 'small'), '--index', '0']);
async function mergeSeconds(plan: string): Promise<number> {
  const ts: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await mergePlan(plan);
    ts.push((performance.now() - t) / 1000);
  }
  return median(ts);
}
const mergeM = await mergeSeconds(path.join(work, 'one'));
const mergeSmall = await mergeSeconds(path.join(work, 'small'));
const tm = Math.max(0, (mergeM - mergeSmall) / (M - SMALL));
loads.push(os.loadavg()[0]);

console.log(`machine: ${os.cpus().length} cores, load average during the run ${loads.map((l) => l.toFixed(1)).join(' → ')}; M = ${M} images, GRAFT_THREADS=1`);
console.log(`t0 per-shard overhead (1-image shard, median of 5): ${t0.toFixed(2)} s  [${t0s.map((t) => t.toFixed(2)).join(', ')}]`);
console.log(`one shard of ${M} images: ${tM.toFixed(1)} s → t1 = ${(t1 * 1000).toFixed(1)} ms/image (${(1 / t1).toFixed(1)} img/s per shard)`);
console.log(`two shards of ${M / 2} at once on this machine: ${tTwo.toFixed(1)} s (speed-up ${(tM / tTwo).toFixed(2)}× over one shard)`);
console.log(`merge of ${M} rows: ${tMerge.toFixed(2)} s as a command; in process ${mergeM.toFixed(3)} s (${SMALL} rows: ${mergeSmall.toFixed(3)} s) → tm = ${(tm * 1000).toFixed(3)} ms/row; status ${tStatus.toFixed(2)} s`);
console.log('');
console.log('| shards N | images per shard | wall time (N CPUs at once) | CPU time (all shards) | merge |');
console.log('|---|---|---|---|---|');
for (const n of [1, 4, 16, 64, 256, 1024]) {
  const per = Math.ceil(1e6 / n);
  const merge = 1e6 * tm;
  console.log(`| ${n} | ${per.toLocaleString('en')} | ${fmt(t0 + per * t1 + merge)} | ${fmt(n * t0 + 1e6 * t1)} | ${fmt(merge)} |`);
}
fs.rmSync(work, { recursive: true, force: true });
