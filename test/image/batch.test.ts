import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  batches,
  imageToTensor,
  loadBatch,
  DEFAULT_AUGMENT,
  PREPROCESS_TORCH,
  PREPROCESS_TF,
  type Preprocess,
  type ImageBatch,
} from '../../src/image/index.js';
import { GraftError } from '../../src/util/errors.js';
import type { ProgressSink } from '../../src/util/progress.js';
import { catsDogs } from '../helpers/paths.js';

const small: Preprocess = { ...PREPROCESS_TORCH, size: [32, 32], resizeTo: 40 };
const photos = [0, 1, 2, 3, 4, 5, 6].map((i) => path.join(catsDogs, 'train', 'cats', `cat.${i}.jpg`));
let dir: string;
let broken: string;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-batch-'));
  broken = path.join(dir, 'broken.jpg');
  fs.writeFileSync(broken, 'not a jpeg');
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const rowSize = 3 * 32 * 32;
const row = (data: Float32Array, r: number) => data.subarray(r * rowSize, (r + 1) * rowSize);

test('loadBatch: failed images are reported, the rest form the batch in order', async () => {
  const missing = path.join(dir, 'missing.png');
  const sources = [photos[0], broken, photos[1], missing, photos[2]];
  const batch = await loadBatch(sources, small, { concurrency: 3 });
  assert.deepEqual(batch.indices, [0, 2, 4]);
  assert.deepEqual(batch.dims, [3, 3, 32, 32]);
  assert.equal(batch.data.length, 3 * rowSize);
  assert.deepEqual(batch.failures.map((f) => f.path), [broken, missing]);
  assert.match(batch.failures[0].reason, /not an image/);
  assert.match(batch.failures[1].reason, /file not found/);
  for (const [r, i] of batch.indices.entries()) assert.deepEqual(row(batch.data, r), await imageToTensor(sources[i], small));
  const nhwc = await loadBatch([photos[0]], { ...small, layout: 'NHWC' });
  assert.deepEqual(nhwc.dims, [1, 32, 32, 3]);
});

async function collect(gen: AsyncGenerator<ImageBatch>): Promise<ImageBatch[]> {
  const out: ImageBatch[] = [];
  for await (const b of gen) out.push(b);
  return out;
}

test('batches: in order, right sizes, failures per batch, same rows as one-by-one loading', async () => {
  const sources = [photos[0], photos[1], broken, photos[3], photos[4], photos[5], photos[6]];
  const got = await collect(batches(sources, small, { batchSize: 3, concurrency: 2 }));
  assert.deepEqual(got.map((b) => b.indices), [[0, 1], [3, 4, 5], [6]]);
  assert.deepEqual(got.map((b) => b.dims[0]), [2, 3, 1]);
  assert.deepEqual(got.map((b) => b.failures.map((f) => f.path)), [[broken], [], []]);
  for (const b of got) {
    for (const [r, i] of b.indices.entries()) assert.deepEqual(row(b.data, r), await imageToTensor(sources[i], small));
  }
});

test('batches with augment: identical for the same seed whatever the concurrency', async () => {
  const opts = { batchSize: 3, augment: DEFAULT_AUGMENT, seed: 11 };
  const one = await collect(batches(photos, small, { ...opts, concurrency: 1, prefetch: 0 }));
  const four = await collect(batches(photos, small, { ...opts, concurrency: 4, prefetch: 3 }));
  assert.deepEqual(one.map((b) => b.data), four.map((b) => b.data));
  const other = await collect(batches(photos, small, { ...opts, seed: 12 }));
  assert.notDeepEqual(one[0].data, other[0].data);
  const plain = await loadBatch(photos.slice(0, 3), small);
  assert.notDeepEqual(one[0].data, plain.data);
});

test('batches prefetch is bounded: while the consumer holds batch 0, at most `prefetch` more are decoded', async () => {
  const sources = Array.from({ length: 8 }, (_, i) => photos[i % photos.length]);
  let decoded = 0;
  const progress: ProgressSink = {
    start: () => ({ update() {}, increment: () => void decoded++, finish() {} }),
  };
  const gen = batches(sources, { ...PREPROCESS_TF, size: [16, 16] }, { batchSize: 2, prefetch: 1, concurrency: 4, progress });
  const first = await gen.next();
  assert.equal(first.done, false);
  await new Promise((resolve) => setTimeout(resolve, 300)); // the consumer "works"; prefetching goes on meanwhile
  assert.equal(decoded, 4, 'batch 0 plus one prefetched batch of 2 images');
  await gen.return(undefined);
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.ok(decoded <= 6, `stopping the stream stops the decoding (decoded ${decoded})`);
});

test('bad batch options are refused', async () => {
  await assert.rejects(collect(batches(photos, small, { batchSize: 0 })), (err: unknown) => err instanceof GraftError && err.code === 'BAD_ARGUMENT');
  await assert.rejects(loadBatch(photos, small, { concurrency: 0 }), (err: unknown) => err instanceof GraftError && err.code === 'BAD_ARGUMENT');
});
