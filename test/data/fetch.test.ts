import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { fetchDataset, DATASET_SOURCES, type DatasetSource } from '../../src/data/fetch.js';
import { openDataset } from '../../src/data/dataset.js';
import { GraftError } from '../../src/util/errors.js';
import { rawTar, rawZip } from './archive-fixture.js';
import { startServer, type TestServer } from './http-fixture.js';

const jpg = (i: number): string => `jpeg-bytes-${i}`;
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

// A miniature cats_and_dogs_filtered.zip: same folder structure as the real one, plus the script it ships with.
const catsDogsZip = rawZip([
  { name: 'cats_and_dogs_filtered/' },
  { name: 'cats_and_dogs_filtered/vectorize.py', data: 'print(1)' },
  ...['train', 'validation'].flatMap((split) => ['cats', 'dogs'].flatMap((cls) =>
    range(split === 'train' ? 4 : 2).map((i) => ({ name: `cats_and_dogs_filtered/${split}/${cls}/${cls}.${i}.jpg`, data: jpg(i) })))),
]);
const evilZip = rawZip([{ name: 'PetImages/Cat/1.jpg', data: 'x' }, { name: '../evil.txt', data: 'evil' }]);
const imagesTgz = zlib.gzipSync(rawTar([
  { name: 'images/', type: 'Directory' },
  ...range(5).map((i) => ({ name: `images/Bengal_${i}.jpg`, data: jpg(i) })),
  ...range(5).map((i) => ({ name: `images/pug_${i}.jpg`, data: jpg(i) })),
]));
const annotationsTgz = zlib.gzipSync(rawTar([
  { name: 'annotations/test.txt', data: 'Bengal_0 2 1 2\npug_0 27 2 15\n' },
  { name: 'annotations/trainval.txt', data: range(4).map((i) => `Bengal_${i + 1} 2 1 2\npug_${i + 1} 27 2 15`).join('\n') },
]));
const sha = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

let server: TestServer;
let tmp: string;
let counter = 0;

before(async () => {
  server = await startServer({
    '/cats_and_dogs_filtered.zip': { body: catsDogsZip },
    '/kagglecatsanddogs_5340.zip': { body: evilZip },
    '/images.tar.gz': { body: imagesTgz },
    '/annotations.tar.gz': { body: annotationsTgz },
  });
  tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'graft-fetch-'));
});

after(async () => {
  await server.close();
  await fs.promises.rm(tmp, { recursive: true, force: true });
});

function newDir(): string {
  const dir = path.join(tmp, `f-${counter++}`);
  fs.mkdirSync(dir);
  return dir;
}

test('fetchDataset: cats-and-dogs-filtered end to end through a mirror, then reused without a request', async () => {
  const dir = newDir();
  const lines: string[] = [];
  const root = await fetchDataset('cats-and-dogs-filtered', dir, { mirror: `${server.base}/`, log: (l) => lines.push(l) });
  assert.equal(root, path.join(dir, 'cats-and-dogs-filtered', 'cats_and_dogs_filtered'));
  assert.ok(lines.some((l) => l.includes(sha(catsDogsZip))), 'the unverified archive hash is logged');

  const ds = await openDataset(root);
  assert.equal(ds.layout, 'split-folders');
  assert.deepEqual(ds.classes, ['cats', 'dogs']);
  assert.equal(ds.samples.filter((s) => s.split === 'train').length, 8);
  assert.equal(ds.samples.filter((s) => s.split === 'validation').length, 4);
  assert.equal(fs.readFileSync(path.join(root, 'train', 'dogs', 'dogs.3.jpg'), 'utf8'), jpg(3));
  assert.deepEqual(fs.readdirSync(dir).sort(), ['.downloads', 'cats-and-dogs-filtered'], 'no staging folder left');

  const requests = server.requests.length;
  assert.equal(await fetchDataset('cats-and-dogs-filtered', dir, { mirror: server.base }), root);
  assert.equal(server.requests.length, requests);
});

test('fetchDataset: $GRAFT_DATASET_MIRROR is honoured', async () => {
  const dir = newDir();
  process.env.GRAFT_DATASET_MIRROR = server.base;
  try {
    const root = await fetchDataset('cats-and-dogs-filtered', dir);
    assert.ok(fs.existsSync(path.join(root, 'validation', 'cats', 'cats.1.jpg')));
  } finally {
    delete process.env.GRAFT_DATASET_MIRROR;
  }
  assert.ok(server.requests.includes('/cats_and_dogs_filtered.zip'));
});

test('fetchDataset: a custom two-archive source (Oxford-style tar.gz pair) extracts both into one dataset', async () => {
  const dir = newDir();
  const source: DatasetSource = {
    ...DATASET_SOURCES['oxford-iiit-pet'],
    name: 'mini-pets',
    files: DATASET_SOURCES['oxford-iiit-pet'].files.map((f) => ({ ...f, url: `${server.base}/${f.fileName}`, sha256: undefined })),
  };
  const root = await fetchDataset(source, dir);
  const ds = await openDataset(root, { val: 0.25 });
  assert.equal(ds.layout, 'oxford-iiit-pet');
  assert.deepEqual(ds.classes, ['Bengal', 'pug']);
  const count = (split: string): number => ds.samples.filter((s) => s.split === split).length;
  assert.deepEqual([count('train'), count('validation'), count('test')], [6, 2, 2]);
});

test('fetchDataset: the known Oxford checksums reject other content, and nothing is left behind', async () => {
  const dir = newDir();
  const err = await fetchDataset('oxford-iiit-pet', dir, { mirror: server.base }).catch((e: unknown) => e);
  assert.ok(err instanceof GraftError && err.code === 'CHECKSUM', String(err));
  assert.ok(err.message.includes(sha(imagesTgz)));
  assert.ok(!fs.existsSync(path.join(dir, 'oxford-iiit-pet')));
  assert.deepEqual(fs.readdirSync(path.join(dir, '.downloads')), []);
});

test('fetchDataset: an archive placed by hand with a wrong checksum is refused', async () => {
  const dir = newDir();
  fs.writeFileSync(path.join(dir, 'images.tar.gz'), imagesTgz);
  const err = await fetchDataset('oxford-iiit-pet', dir, { mirror: server.base }).catch((e: unknown) => e);
  assert.ok(err instanceof GraftError && err.code === 'CHECKSUM');
  assert.ok(err.message.includes(path.join(dir, 'images.tar.gz')));
  assert.ok(fs.existsSync(path.join(dir, 'images.tar.gz')), "the user's file is not deleted");
});

test('fetchDataset: a malicious archive is refused and the staging folder removed', async () => {
  const dir = newDir();
  const err = await fetchDataset('kaggle-cats-dogs', dir, { mirror: server.base }).catch((e: unknown) => e);
  assert.ok(err instanceof GraftError && err.code === 'DATASET');
  assert.match(err.message, /"\.\.\/evil\.txt"/);
  assert.deepEqual(fs.readdirSync(dir), ['.downloads']);
  assert.ok(!fs.existsSync(path.join(tmp, 'evil.txt')));
});

test('fetchDataset: unknown names and unreachable archives are clear errors', async () => {
  const dir = newDir();
  const unknown = await fetchDataset('imagenet', dir).catch((e: unknown) => e);
  assert.ok(unknown instanceof GraftError && unknown.code === 'BAD_ARGUMENT');
  assert.match(unknown.message, /oxford-iiit-pet/);

  const missing = await fetchDataset('cats-and-dogs-filtered', dir, { mirror: `${server.base}/nothing-here` }).catch((e: unknown) => e);
  assert.ok(missing instanceof GraftError && missing.code === 'DOWNLOAD');
  assert.match(missing.message, /404/);
  assert.ok(missing.message.includes('cats_and_dogs_filtered.zip') && missing.message.includes(path.join(dir, '.downloads')));
});
