import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  openDataset, stratifiedSplit, datasetStats, formatStats, sampleForDisplay, deleteCorrupt,
  type Dataset, type Split,
} from '../../src/data/dataset.js';
import { GraftError } from '../../src/util/errors.js';
import { makeTree, junkFiles, snapshot } from './tree-fixture.js';

let tmp: string;
let counter = 0;

before(async () => {
  tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'graft-dataset-'));
});

after(async () => {
  await fs.promises.rm(tmp, { recursive: true, force: true });
});

function newRoot(): string {
  const dir = path.join(tmp, `ds-${counter++}`);
  fs.mkdirSync(dir);
  return dir;
}

/** n image files named <prefix><i>.jpg under dir, each one byte (not empty). */
function images(dir: string, n: number, prefix = 'img'): Record<string, string> {
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`${dir}/${prefix}${i}.jpg`, 'x']));
}

function rel(ds: Dataset, p: string): string {
  return path.relative(ds.root, p).split(path.sep).join('/');
}

function countBy(ds: Dataset): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of ds.samples) {
    const key = `${s.split}/${ds.classes[s.label]}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

async function expectError(p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof GraftError, `expected GraftError ${code}, got ${String(err)}`);
  assert.equal(err.code, code);
  assert.match(err.message, pattern);
}

const SHARED = process.env.GRAFT_SHARED ?? path.resolve(import.meta.dirname, '../../../shared');
const CATS_DOGS = path.join(SHARED, 'datasets', 'cats_and_dogs_filtered');
const OXFORD = path.join(SHARED, 'datasets', 'oxford-iiit-pet');

// ---------- stratifiedSplit ----------

test('stratifiedSplit: partition, per-class proportion within ±1, at least one train sample per class, determinism', () => {
  const sizes = [1, 2, 3, 7, 10, 33, 100];
  const labels: number[] = [];
  sizes.forEach((n, c) => { for (let i = 0; i < n; i++) labels.push(c); });
  // Interleave so that class order and index order differ.
  const order = labels.map((_, i) => i).sort((a, b) => ((a * 7919) % 263) - ((b * 7919) % 263));
  const mixed = order.map((i) => labels[i]);

  for (const fraction of [0, 0.2, 0.5, 0.9]) {
    const { train, val } = stratifiedSplit(mixed, fraction, 5);
    assert.deepEqual([...train, ...val].sort((a, b) => a - b), mixed.map((_, i) => i), 'a partition of all indices');
    assert.deepEqual(train, [...train].sort((a, b) => a - b));
    sizes.forEach((n, c) => {
      const nVal = val.filter((i) => mixed[i] === c).length;
      assert.ok(Math.abs(nVal - n * fraction) <= 1, `class ${c} (n=${n}) fraction ${fraction}: ${nVal} in val`);
      assert.ok(n - nVal >= 1, `class ${c} keeps a training sample`);
    });
    assert.deepEqual(stratifiedSplit(mixed, fraction, 5), { train, val }, 'same seed, same split');
  }
  const a = stratifiedSplit(mixed, 0.3, 1).val;
  const b = stratifiedSplit(mixed, 0.3, 2).val;
  assert.notDeepEqual(a, b, 'another seed picks other samples');
  assert.equal(a.length, b.length);
  assert.throws(() => stratifiedSplit(mixed, 1, 1), GraftError);
  assert.throws(() => stratifiedSplit(mixed, -0.1, 1), GraftError);
});

// ---------- split folders ----------

test('split folders: classes are the sorted union, splits follow the folders, junk ignored, zero-byte files skipped', async () => {
  const root = newRoot();
  makeTree(root, {
    ...images('train/dogs', 4), ...images('train/cats', 3), ...images('train/birds', 2),
    ...images('validation/dogs', 2), ...images('validation/cats', 1),
    ...images('test/cats', 1), ...images('test/dogs', 1),
    ...junkFiles(''), ...junkFiles('train'), ...junkFiles('train/cats'),
    'train/cats/empty.jpg': '',
    'train/cats/nested/deep.PNG': 'x',
    'train/__MACOSX/._img0.jpg': 'x',
    'vectorize.py': 'print(1)',
  });
  const before = snapshot(root);
  const ds = await openDataset(root);
  assert.equal(ds.layout, 'split-folders');
  assert.deepEqual(ds.classes, ['birds', 'cats', 'dogs']);
  assert.deepEqual(countBy(ds), {
    'train/birds': 2, 'train/cats': 4, 'train/dogs': 4,
    'validation/cats': 1, 'validation/dogs': 2, 'test/cats': 1, 'test/dogs': 1,
  });
  assert.deepEqual(ds.skipped.map((s) => rel(ds, s.path)), ['train/cats/empty.jpg']);
  assert.match(ds.skipped[0].reason, /0 bytes/);
  assert.ok(ds.samples.some((s) => rel(ds, s.path) === 'train/cats/nested/deep.PNG'), 'nested folders and upper-case extensions count');
  for (const s of ds.samples) {
    const [split, cls] = rel(ds, s.path).split('/');
    assert.equal(ds.classes[s.label], cls);
    assert.equal(s.split, split);
  }
  assert.deepEqual(ds.samples.map((s) => s.path), ds.samples.map((s) => s.path).sort(), 'sorted');
  assert.deepEqual(snapshot(root), before, 'dataset untouched');
});

test('split folders: "val" is accepted; without a validation folder validation is carved from train per class', async () => {
  const root = newRoot();
  makeTree(root, { ...images('train/a', 5), ...images('train/b', 5), ...images('val/a', 2), ...images('val/b', 2) });
  const withVal = await openDataset(root);
  assert.deepEqual(countBy(withVal), { 'train/a': 5, 'train/b': 5, 'validation/a': 2, 'validation/b': 2 });

  const root2 = newRoot();
  makeTree(root2, { ...images('train/a', 10), ...images('train/b', 20), ...images('test/a', 3), ...images('test/b', 3) });
  const carved = await openDataset(root2, { val: 0.3, seed: 4 });
  assert.deepEqual(countBy(carved), {
    'train/a': 7, 'validation/a': 3, 'train/b': 14, 'validation/b': 6, 'test/a': 3, 'test/b': 3,
  });
  assert.ok(carved.samples.filter((s) => s.split === 'validation').every((s) => rel(carved, s.path).startsWith('train/')));
});

// ---------- class folders ----------

test('class folders: sorted classes, seeded stratified split, same seed same split', async () => {
  const root = newRoot();
  makeTree(root, {
    ...images('dog', 25), ...images('Zebra', 10), ...images('cat', 15),
    ...junkFiles(''), ...junkFiles('dog'), 'cat/zero.jpeg': '', 'empty-folder/readme.md': 'no images',
  });
  const before = snapshot(root);
  const ds = await openDataset(root);
  assert.equal(ds.layout, 'class-folders');
  assert.deepEqual(ds.classes, ['Zebra', 'cat', 'dog'], 'code-point order, as Python sorted()');
  assert.deepEqual(countBy(ds), {
    'train/Zebra': 8, 'validation/Zebra': 2, 'train/cat': 12, 'validation/cat': 3, 'train/dog': 20, 'validation/dog': 5,
  });
  assert.deepEqual(ds.skipped.map((s) => rel(ds, s.path)), ['cat/zero.jpeg']);

  const again = await openDataset(root);
  assert.deepEqual(again.samples, ds.samples, 'default seed is stable');
  const other = await openDataset(root, { seed: 99 });
  assert.notDeepEqual(other.samples.map((s) => s.split), ds.samples.map((s) => s.split));
  const half = await openDataset(root, { val: 0.5, seed: 99 });
  assert.deepEqual(countBy(half), {
    'train/Zebra': 5, 'validation/Zebra': 5, 'train/cat': 7, 'validation/cat': 8, 'train/dog': 12, 'validation/dog': 13,
  });
  assert.deepEqual(snapshot(root), before);
});

test('Kaggle PetImages: the PetImages wrapper is recognised, Thumbs.db ignored, empty JPEGs skipped', async () => {
  const root = newRoot();
  makeTree(root, {
    ...images('PetImages/Cat', 10), ...images('PetImages/Dog', 10),
    'PetImages/Cat/Thumbs.db': 'x', 'PetImages/Dog/Thumbs.db': 'x',
    'PetImages/Cat/666.jpg': '', 'PetImages/Dog/11702.jpg': '',
    'CDLA-Permissive-2.0.pdf': 'pdf', 'readme[1].txt': 'readme',
  });
  const ds = await openDataset(root);
  assert.equal(ds.layout, 'class-folders');
  assert.equal(ds.root, path.join(root, 'PetImages'));
  assert.deepEqual(ds.classes, ['Cat', 'Dog']);
  assert.equal(ds.samples.length, 20);
  assert.deepEqual(ds.skipped.map((s) => rel(ds, s.path)), ['Cat/666.jpg', 'Dog/11702.jpg']);
  assert.ok(ds.notes.some((n) => n.includes('PetImages')));

  const direct = await openDataset(path.join(root, 'PetImages'));
  assert.deepEqual(direct.samples, ds.samples, 'root/{Cat,Dog} is the same dataset');
});

// ---------- Oxford-IIIT Pet ----------

function oxfordTree(withAnnotations: boolean): Record<string, string> {
  const files: Record<string, string> = {
    ...images('images', 10, 'Abyssinian_'), ...images('images', 10, 'Egyptian_Mau_'), ...images('images', 5, 'american_bulldog_'),
    'images/Abyssinian_100.mat': 'matlab', 'images/Abyssinian_101.mat': 'matlab',
    'images/Sphynx_1.jpg': '', 'images/noise.jpg': 'x', 'images/.DS_Store': 'x',
  };
  if (withAnnotations) {
    // As in the official annotations.tar.gz: trimaps are PNGs and must not be mistaken for a class; plus an unrelated folder.
    files['annotations/trimaps/Abyssinian_1.png'] = 'x';
    files['annotations/xmls/Abyssinian_1.xml'] = 'x';
    files['extras/photo.png'] = 'x';
    files['annotations/list.txt'] = [
      '#Image CLASS-ID SPECIES BREED ID',
      ...Array.from({ length: 10 }, (_, i) => `Abyssinian_${i} 1 1 1`),
      ...Array.from({ length: 10 }, (_, i) => `Egyptian_Mau_${i} 6 1 6`),
      // Deliberately inconsistent with the capital-letter rule: list.txt must win where it speaks.
      ...Array.from({ length: 5 }, (_, i) => `american_bulldog_${i} 2 ${i === 0 ? 1 : 2} 1`),
    ].join('\n');
    files['annotations/trainval.txt'] = [
      ...Array.from({ length: 8 }, (_, i) => `Abyssinian_${i} 1 1 1`),
      ...Array.from({ length: 5 }, (_, i) => `Egyptian_Mau_${i} 6 1 6`),
      'american_bulldog_0 2 2 1', 'american_bulldog_1 2 2 1', 'american_bulldog_2 2 2 1',
      'Bengal_77 2 1 2', 'Bengal_78 2 1 2',
    ].join('\n');
    files['annotations/test.txt'] = [
      'Abyssinian_8 1 1 1',
      ...Array.from({ length: 5 }, (_, i) => `Egyptian_Mau_${i + 5} 6 1 6`),
      'american_bulldog_3 2 2 1', 'Persian_5 8 1 8',
    ].join('\n');
  }
  return files;
}

test('Oxford-IIIT Pet: breed from file name, official test list, validation carved from trainval, unlisted images in train', async () => {
  const root = newRoot();
  makeTree(root, oxfordTree(true));
  const before = snapshot(root);
  const ds = await openDataset(root, { val: 0.25, seed: 3 });
  assert.equal(ds.layout, 'oxford-iiit-pet');
  assert.deepEqual(ds.classes, ['Abyssinian', 'Egyptian_Mau', 'american_bulldog']);
  // trainval: Abyssinian 8 → 2 val, Egyptian_Mau 5 → 1 val (round 1.25), american_bulldog 3 → 1 val (round 0.75).
  // Unlisted: Abyssinian_9, american_bulldog_4 → train.
  assert.deepEqual(countBy(ds), {
    'train/Abyssinian': 7, 'validation/Abyssinian': 2, 'test/Abyssinian': 1,
    'train/Egyptian_Mau': 4, 'validation/Egyptian_Mau': 1, 'test/Egyptian_Mau': 5,
    'train/american_bulldog': 3, 'validation/american_bulldog': 1, 'test/american_bulldog': 1,
  });
  const splitOf = (name: string): Split => ds.samples.find((s) => path.basename(s.path) === name)!.split;
  assert.equal(splitOf('Abyssinian_9.jpg'), 'train');
  assert.equal(splitOf('american_bulldog_4.jpg'), 'train');
  assert.equal(splitOf('Abyssinian_8.jpg'), 'test');
  assert.ok(ds.notes.some((n) => /^2 image\(s\) are in neither/.test(n)), ds.notes.join('\n'));
  assert.deepEqual(ds.skipped.map((s) => path.basename(s.path)), ['Sphynx_1.jpg', 'noise.jpg']);
  assert.match(ds.skipped[0].reason, /0 bytes/);
  assert.match(ds.skipped[1].reason, /<breed>_<number>/);

  const species = await openDataset(root, { target: 'species', val: 0.25, seed: 3 });
  assert.deepEqual(species.classes, ['cat', 'dog']);
  const speciesOf = (name: string): string => species.classes[species.samples.find((s) => path.basename(s.path) === name)!.label];
  assert.equal(speciesOf('Egyptian_Mau_3.jpg'), 'cat');
  assert.equal(speciesOf('american_bulldog_1.jpg'), 'dog');
  assert.equal(speciesOf('american_bulldog_0.jpg'), 'cat', 'list.txt overrides the capital-letter rule');
  assert.deepEqual(species.samples.map((s) => [s.path, s.split === 'test']), ds.samples.map((s) => [s.path, s.split === 'test']));
  assert.deepEqual(snapshot(root), before);
});

test('Oxford-IIIT Pet without annotations: species by capital letter, seeded split, no test split', async () => {
  const root = newRoot();
  makeTree(root, oxfordTree(false));
  const ds = await openDataset(root, { target: 'species' });
  assert.deepEqual(ds.classes, ['cat', 'dog']);
  assert.deepEqual(countBy(ds), { 'train/cat': 16, 'validation/cat': 4, 'train/dog': 4, 'validation/dog': 1 });
  for (const s of ds.samples) assert.equal(ds.classes[s.label], /^[A-Z]/.test(path.basename(s.path)) ? 'cat' : 'dog');
});

// ---------- errors ----------

test('a single folder of images, a single class, nothing at all: errors that explain the expected layouts', async () => {
  const flat = newRoot();
  makeTree(flat, images('.', 3));
  await expectError(openDataset(flat), 'DATASET', /without classes[\s\S]*Supported layouts[\s\S]*class folders/);

  const one = newRoot();
  makeTree(one, { ...images('only', 3), 'other/readme.txt': 'x' });
  await expectError(openDataset(one), 'DATASET', /only one class folder \(only\/\)/);

  const empty = newRoot();
  makeTree(empty, junkFiles(''));
  await expectError(openDataset(empty), 'DATASET', /No images found[\s\S]*Oxford-IIIT Pet/);

  await expectError(openDataset(path.join(tmp, 'does-not-exist')), 'FILE_NOT_FOUND', /does-not-exist/);

  const classes = newRoot();
  makeTree(classes, { ...images('a', 2), ...images('b', 2) });
  await expectError(openDataset(classes, { target: 'species' }), 'BAD_ARGUMENT', /Oxford/);
  await expectError(openDataset(classes, { val: 1 }), 'BAD_ARGUMENT', /fraction/);
});

// ---------- stats, display sample, deletion ----------

test('datasetStats counts every sample once; formatStats prints those numbers with totals', async () => {
  const root = newRoot();
  makeTree(root, { ...images('train/a', 6), ...images('train/b', 3), ...images('validation/a', 2), ...images('validation/b', 1), 'train/b/z.jpg': '' });
  const ds = await openDataset(root);
  const stats = datasetStats(ds);
  assert.deepEqual(stats.counts, { train: [6, 3], validation: [2, 1], test: [0, 0] });
  assert.equal(stats.skipped, 1);

  const lines = formatStats(stats).split('\n');
  const cells = (prefix: string): string[] => lines.find((l) => l.startsWith(prefix))!.trim().split(/\s+/);
  assert.deepEqual(cells('class'), ['class', 'train', 'validation', 'total'], 'empty test split not shown');
  assert.deepEqual(cells('a '), ['a', '6', '2', '8']);
  assert.deepEqual(cells('b '), ['b', '3', '1', '4']);
  assert.deepEqual(cells('total'), ['total', '9', '3', '12']);
  assert.match(lines.at(-1)!, /skipped files: 1/);
});

test('sampleForDisplay spreads over classes, is seeded, and never repeats a sample', async () => {
  const root = newRoot();
  makeTree(root, { ...images('x', 10), ...images('y', 10), ...images('z', 1) });
  const ds = await openDataset(root);
  const six = sampleForDisplay(ds, 6, 1);
  assert.equal(six.length, 6);
  assert.deepEqual([0, 1, 2].map((l) => six.filter((s) => s.label === l).length), [3, 2, 1], 'z has a single image');
  assert.deepEqual(sampleForDisplay(ds, 6, 1), six);
  assert.notDeepEqual(sampleForDisplay(ds, 6, 2).map((s) => s.path), six.map((s) => s.path));
  const all = sampleForDisplay(ds, 100, 1);
  assert.equal(all.length, 21);
  assert.equal(new Set(all.map((s) => s.path)).size, 21);
});

test('deleteCorrupt removes exactly the listed files and refuses folders', async () => {
  const root = newRoot();
  makeTree(root, { 'a/1.jpg': '', 'a/2.jpg': 'x', 'a/3.jpg': 'x' });
  const deleted = await deleteCorrupt([path.join(root, 'a/1.jpg'), path.join(root, 'a/3.jpg'), path.join(root, 'a/missing.jpg')]);
  assert.deepEqual(deleted, [path.join(root, 'a/1.jpg'), path.join(root, 'a/3.jpg')]);
  assert.deepEqual(fs.readdirSync(path.join(root, 'a')), ['2.jpg']);
  await expectError(deleteCorrupt([path.join(root, 'a')]), 'BAD_ARGUMENT', /not a regular file/);
});

// ---------- the real datasets in ../shared ----------

test('real cats_and_dogs_filtered: 2000 train / 1000 validation, classes cats/dogs, untouched', { skip: !fs.existsSync(CATS_DOGS) }, async () => {
  const before = snapshot(CATS_DOGS);
  const ds = await openDataset(CATS_DOGS);
  assert.equal(ds.layout, 'split-folders');
  assert.deepEqual(ds.classes, ['cats', 'dogs']);
  const expected: Record<string, number> = {};
  for (const split of ['train', 'validation']) {
    for (const cls of ['cats', 'dogs']) {
      expected[`${split}/${cls}`] = fs.readdirSync(path.join(CATS_DOGS, split, cls)).filter((f) => f.endsWith('.jpg')).length;
    }
  }
  assert.deepEqual(countBy(ds), expected);
  assert.deepEqual(countBy(ds), { 'train/cats': 1000, 'train/dogs': 1000, 'validation/cats': 500, 'validation/dogs': 500 });
  assert.equal(ds.skipped.length, 0);
  assert.deepEqual(snapshot(CATS_DOGS), before);
});

test('real oxford-iiit-pet: 37 breeds, official test names present, species = capitalised breeds, untouched', { skip: !fs.existsSync(OXFORD) }, async () => {
  const before = snapshot(OXFORD);
  const ds = await openDataset(OXFORD);
  assert.equal(ds.layout, 'oxford-iiit-pet');

  const files = fs.readdirSync(path.join(OXFORD, 'images')).filter((f) => f.endsWith('.jpg'));
  const stems = new Set(files.map((f) => f.slice(0, -4)));
  const breeds = new Set(files.map((f) => f.slice(0, f.lastIndexOf('_'))));
  assert.equal(breeds.size, 37);
  assert.deepEqual(ds.classes, [...breeds].sort());
  assert.ok(ds.classes.includes('Abyssinian') && ds.classes.includes('american_bulldog') && ds.classes.includes('Egyptian_Mau'));

  const names = (file: string): string[] => fs.readFileSync(path.join(OXFORD, 'annotations', file), 'utf8')
    .split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
  const testPresent = names('test.txt').filter((n) => stems.has(n)).length;
  const trainvalPresent = names('trainval.txt').filter((n) => stems.has(n)).length;
  assert.equal(testPresent, 355, 'README: 355 test images present');
  assert.equal(trainvalPresent, 712, 'README: 712 trainval images present');
  const bySplit = (split: Split): number => ds.samples.filter((s) => s.split === split).length;
  assert.equal(bySplit('test'), testPresent);
  const unlisted = files.length - testPresent - trainvalPresent;
  assert.equal(bySplit('train') + bySplit('validation'), trainvalPresent + unlisted);
  assert.ok(ds.notes.some((n) => n.startsWith(`${unlisted} image(s) are in neither`)));
  assert.equal(ds.samples.length, files.length, 'the GIF and the RGBA PNG named .jpg are listed (decoding is not our concern)');
  assert.ok(ds.samples.every((s) => !s.path.endsWith('.mat')));

  // Validation is stratified out of the trainval names: per breed within ±1 of 20%.
  const trainval = new Set(names('trainval.txt'));
  ds.classes.forEach((breed, label) => {
    const pool = ds.samples.filter((s) => s.label === label && trainval.has(path.basename(s.path, '.jpg')));
    const nVal = pool.filter((s) => s.split === 'validation').length;
    assert.ok(Math.abs(nVal - 0.2 * pool.length) <= 1, `${breed}: ${nVal} of ${pool.length}`);
  });

  const species = await openDataset(OXFORD, { target: 'species' });
  assert.deepEqual(species.classes, ['cat', 'dog']);
  for (const s of species.samples) {
    assert.equal(species.classes[s.label], /^[A-Z]/.test(path.basename(s.path)) ? 'cat' : 'dog', s.path);
  }
  assert.deepEqual(snapshot(OXFORD), before);
});
