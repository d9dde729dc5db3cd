/**
 * `graft bench`: times one kind of work (forward, input gradient, training step, feature extraction, head
 * training) on this machine — warm-up runs, then the median of timed iterations — and optionally profiles
 * every onnxruntime node into a per-op breakdown.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { GraftModel } from '../models/load.js';
import { defaultThreads } from '../runtime/session.js';
import { GraftError } from '../util/errors.js';
import { headThreads } from '../train/logistic.js';
import { BENCH_KINDS, extractCase, forwardCase, headCase, inputGradCase, trainStepCase, type BenchCase, type BenchKind } from './cases.js';
import { summariseProfile, type Profile } from './profile.js';

export { BENCH_KINDS, type BenchKind } from './cases.js';
export { summariseProfile, type OpTime, type Profile } from './profile.js';

export interface BenchOptions {
  what: BenchKind;
  batch?: number;
  threads?: number;
  /** Untimed runs first (default 1). */
  warmup?: number;
  /** Timed runs; the median is reported (default 5). */
  iterations?: number;
  /** train-step: BatchNormalization on batch statistics or frozen (default: batch for random weights). */
  batchNorm?: 'batch' | 'frozen';
  /** Folder for an onnxruntime per-node profile of the timed runs; the result then has `profile`. */
  profileDir?: string;
  seed?: number;
}

export interface BenchResult {
  what: BenchKind;
  model: string;
  /** Images per step (feature rows for `head`). */
  batch: number;
  threads: number;
  warmup: number;
  iterations: number;
  /** Median wall milliseconds of one step. */
  medianMs: number;
  msPerImage: number;
  imagesPerSecond: number;
  /** Every timed step, in run order. */
  timesMs: number[];
  detail: string;
  params?: number;
  setupSeconds: number;
  /**
   * Median process CPU milliseconds (all threads) of one step. On a busy machine it moves far less than wall time;
   * with spinning worker threads (the default) it includes their spinning.
   */
  cpuMsPerStep: number;
  /** 1-minute load average when the timing ended: on a shared machine, read the numbers with it. */
  loadAverage: number;
  profile?: Profile & { file: string };
}

export async function benchmark(m: GraftModel, opts: BenchOptions): Promise<BenchResult> {
  const what = opts.what;
  if (!(BENCH_KINDS as readonly string[]).includes(what)) throw new GraftError('BAD_ARGUMENT', `bench: unknown kind "${what}"; choose one of ${BENCH_KINDS.join(', ')}`);
  const batch = opts.batch ?? (what === 'head' ? 719 : what === 'train-step' ? 16 : 1);
  // `head` defaults to the threads graft train gives its head's session (headThreads), so it times the same thing.
  const threads = opts.threads ?? (what === 'head' ? headThreads() ?? defaultThreads() : defaultThreads());
  const warmup = opts.warmup ?? 1;
  const iterations = opts.iterations ?? 5;
  for (const [name, v, min] of [['batch', batch, 1], ['threads', threads, 1], ['warmup', warmup, 0], ['iterations', iterations, 1]] as const) {
    if (!Number.isInteger(v) || v < min) throw new GraftError('BAD_ARGUMENT', `bench: ${name} must be an integer ≥ ${min}, got ${v}`);
  }
  let profilePrefix: string | undefined;
  if (opts.profileDir) {
    fs.mkdirSync(opts.profileDir, { recursive: true });
    profilePrefix = path.join(opts.profileDir, `${what}-${path.basename(m.id)}-${process.pid}`);
  }
  const caseOptions = { batch, seed: opts.seed ?? 0, session: { threads, profilePrefix } };
  const started = performance.now();
  const c: BenchCase = what === 'forward' ? await forwardCase(m, caseOptions)
    : what === 'extract' ? await extractCase(m, caseOptions)
      : what === 'input-grad' ? await inputGradCase(m, caseOptions)
        : what === 'train-step' ? await trainStepCase(m, caseOptions, opts.batchNorm ?? (m.source.startsWith('random:') ? 'batch' : 'frozen'))
          : await headCase(m, caseOptions);
  const setupSeconds = (performance.now() - started) / 1000;
  const timesMs: number[] = [];
  const cpuMs: number[] = [];
  try {
    for (let i = 0; i < warmup; i++) await c.step();
    for (let i = 0; i < iterations; i++) {
      const t = performance.now();
      const cpu = process.cpuUsage();
      await c.step();
      timesMs.push(performance.now() - t);
      const used = process.cpuUsage(cpu);
      cpuMs.push((used.user + used.system) / 1000);
    }
    c.endProfiling?.();
  } finally {
    await c.release();
  }
  const medianMs = median(timesMs);
  const result: BenchResult = {
    what, model: m.id, batch: c.batch, threads, warmup, iterations, medianMs,
    msPerImage: medianMs / c.batch, imagesPerSecond: (1000 * c.batch) / medianMs, timesMs, cpuMsPerStep: median(cpuMs), detail: c.detail,
    ...(c.params !== undefined ? { params: c.params } : {}), setupSeconds, loadAverage: os.loadavg()[0],
  };
  if (profilePrefix) {
    const file = newestWithPrefix(profilePrefix);
    // The trace covers the warm-up runs too (onnxruntime profiles from session creation).
    result.profile = { ...summariseProfile(file, (n) => c.forwardNodes.has(n), warmup + iterations), file };
  }
  return result;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function newestWithPrefix(prefix: string): string {
  const dir = path.dirname(prefix);
  const found = fs.readdirSync(dir).filter((f) => f.startsWith(path.basename(prefix)) && f.endsWith('.json')).map((f) => path.join(dir, f));
  if (!found.length) throw new GraftError('RUNTIME', `onnxruntime wrote no profile next to ${prefix}`);
  return found.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
}
