import { GraftError } from '../util/errors.js';
import { progressOrSilent, type ProgressSink, type ProgressTask } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import type { Augment } from './augment.js';
import { batchDims, imageToTensor, type Preprocess } from './preprocess.js';

export interface BatchOptions {
  /** Images decoded at the same time (sharp decodes in libuv worker threads). Default 2. */
  concurrency?: number;
  /** Random augmentation; image i draws from an Rng seeded by (seed, i), so results do not depend on timing. */
  augment?: Augment;
  seed?: number;
  maxPixels?: number;
  progress?: ProgressSink;
}

export interface ImageFailure {
  path: string;
  /** Index in `sources`: the same path may be given twice. */
  index: number;
  reason: string;
}

export interface LoadedBatch {
  /** Rows of the images that loaded, in source order, laid out as `dims`. */
  data: Float32Array;
  dims: number[];
  /** ok[r] is the index in `sources` of row r. */
  ok: number[];
  failures: ImageFailure[];
}

export interface StreamOptions extends BatchOptions {
  batchSize: number;
  /** Batches decoded ahead while the consumer works on the current one. Default 2. */
  prefetch?: number;
}

export interface StreamedBatch {
  data: Float32Array;
  dims: number[];
  /** indices[r] is the index in `sources` of row r. */
  indices: number[];
  failures: ImageFailure[];
}

type Limiter = <T>(task: () => Promise<T>) => Promise<T>;

/** Runs at most n tasks at once, starting queued tasks in the order they were submitted. */
function createLimiter(n: number): Limiter {
  let running = 0;
  const queue: (() => void)[] = [];
  const release = () => {
    running--;
    queue.shift()?.();
  };
  return (task) =>
    new Promise((resolve, reject) => {
      const start = () => {
        running++;
        task().then(resolve, reject).finally(release);
      };
      if (running < n) start();
      else queue.push(start);
    });
}

/** A per-image seed mixing the run seed and the image index (murmur3 finaliser). */
function imageSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function checkPositiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new GraftError('BAD_ARGUMENT', `${name} must be a positive integer, got ${value}`);
  return value;
}

async function loadRows(
  sources: string[],
  indices: number[],
  pre: Preprocess,
  opts: BatchOptions,
  limit: Limiter,
  task: ProgressTask,
  cancelled: () => boolean = () => false,
): Promise<StreamedBatch> {
  const results = await Promise.all(
    indices.map((index) =>
      limit(async () => {
        if (cancelled()) return undefined;
        const augment = opts.augment ? { spec: opts.augment, rng: new Rng(imageSeed(opts.seed ?? 0, index)) } : undefined;
        try {
          return await imageToTensor(sources[index], pre, augment, { maxPixels: opts.maxPixels });
        } catch (err) {
          if (err instanceof GraftError && err.code === 'IMAGE_DECODE') return err;
          throw err;
        } finally {
          task.increment();
        }
      }),
    ),
  );
  const [h, w] = pre.size;
  const rowSize = 3 * h * w;
  const loaded = results.filter((r): r is Float32Array => r instanceof Float32Array);
  const data = new Float32Array(loaded.length * rowSize);
  const rows: number[] = [];
  const failures: ImageFailure[] = [];
  results.forEach((r, i) => {
    if (r instanceof Float32Array) {
      data.set(r, rows.length * rowSize);
      rows.push(indices[i]);
    } else if (r instanceof GraftError) {
      failures.push({ path: sources[indices[i]], index: indices[i], reason: r.message });
    }
  });
  return { data, dims: batchDims(rows.length, pre), indices: rows, failures };
}

/** Decodes and preprocesses images into one batch tensor; images that fail are reported, never fatal. */
export async function loadBatch(sources: string[], pre: Preprocess, opts: BatchOptions = {}): Promise<LoadedBatch> {
  const limit = createLimiter(checkPositiveInt('concurrency', opts.concurrency ?? 2));
  const task = progressOrSilent(opts.progress).start('decode images', sources.length, 'img');
  const all = sources.map((_, i) => i);
  const { data, dims, indices, failures } = await loadRows(sources, all, pre, opts, limit, task);
  task.finish();
  return { data, dims, ok: indices, failures };
}

/**
 * Streams batches in order with bounded memory: while the consumer holds one batch, at most `prefetch`
 * further batches are being decoded. Breaking out of the loop stops decoding the rest.
 */
export async function* batches(sources: string[], pre: Preprocess, opts: StreamOptions): AsyncGenerator<StreamedBatch> {
  const batchSize = checkPositiveInt('batchSize', opts.batchSize);
  const prefetch = opts.prefetch ?? 2;
  if (!Number.isInteger(prefetch) || prefetch < 0) throw new GraftError('BAD_ARGUMENT', `prefetch must be an integer ≥ 0, got ${prefetch}`);
  const limit = createLimiter(checkPositiveInt('concurrency', opts.concurrency ?? 2));
  const task = progressOrSilent(opts.progress).start('decode images', sources.length, 'img');
  let stopped = false;
  const inFlight: Promise<StreamedBatch>[] = [];
  let nextStart = 0;
  const launch = () => {
    if (nextStart >= sources.length) return;
    const indices: number[] = [];
    for (let i = nextStart; i < Math.min(sources.length, nextStart + batchSize); i++) indices.push(i);
    nextStart += batchSize;
    const pending = loadRows(sources, indices, pre, opts, limit, task, () => stopped);
    pending.catch(() => {}); // observed when awaited; this only keeps an abandoned batch from crashing the process
    inFlight.push(pending);
  };
  try {
    for (let i = 0; i <= prefetch; i++) launch();
    while (inFlight.length > 0) {
      yield await inFlight.shift()!;
      launch();
    }
    task.finish();
  } finally {
    stopped = true;
  }
}
