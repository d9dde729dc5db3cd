import fs from 'node:fs';
import path from 'node:path';
import { GraftError, errorMessage } from '../util/errors.js';
import { Rng } from '../util/rng.js';

export type Split = 'train' | 'validation' | 'test';
export const SPLITS: readonly Split[] = ['train', 'validation', 'test'];

export interface Sample {
  path: string;
  label: number;
  split: Split;
}

export type DatasetLayout = 'split-folders' | 'class-folders' | 'oxford-iiit-pet';

export interface Dataset {
  /** The folder where the layout was recognised (may be below the folder passed in, e.g. `PetImages/`). */
  root: string;
  layout: DatasetLayout;
  classes: string[];
  samples: Sample[];
  skipped: { path: string; reason: string }[];
  /** Human-readable remarks: how the split was made, folders ignored, images outside the official lists... */
  notes: string[];
}

export type Target = 'breed' | 'species';

export interface OpenDatasetOptions {
  /** Oxford-IIIT Pet only: classify the 37 breeds (default) or cat/dog. */
  target?: Target;
  /** Fraction of the training pool held out for validation when the dataset has no validation split (default 0.2). */
  val?: number;
  /** Seed of the stratified validation split (default 13). */
  seed?: number;
}

export const DEFAULT_VAL_FRACTION = 0.2;
export const DEFAULT_SPLIT_SEED = 13;

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.gif', '.bmp', '.webp', '.tif', '.tiff']);
const IGNORED_DIRS = new Set(['__MACOSX']);
const MAX_WRAPPER_DEPTH = 3;

const LAYOUTS_HELP = [
  'Supported layouts:',
  '  split folders    root/train/<class>/*.jpg, root/validation (or val)/<class>/*.jpg, optional root/test/<class>/*.jpg',
  '  class folders    root/<class>/*.jpg with at least two classes (Keras image_dataset_from_directory,',
  '                   torchvision ImageFolder, Kaggle PetImages/{Cat,Dog}); validation is drawn by a seeded split',
  '  Oxford-IIIT Pet  root/images/<breed>_<number>.jpg, optional root/annotations/{list,trainval,test}.txt',
].join('\n');

/** Opens an image-classification dataset, auto-detecting its layout; never modifies anything under root. */
export async function openDataset(root: string, options: OpenDatasetOptions = {}): Promise<Dataset> {
  const val = options.val ?? DEFAULT_VAL_FRACTION;
  const seed = options.seed ?? DEFAULT_SPLIT_SEED;
  checkFraction(val);
  if (!Number.isInteger(seed)) throw new GraftError('BAD_ARGUMENT', `Split seed must be an integer, got ${seed}`);
  const dir = path.resolve(root);
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(dir);
  } catch {
    throw new GraftError('FILE_NOT_FOUND', `Dataset folder not found: ${dir}`);
  }
  if (!stat.isDirectory()) throw new GraftError('DATASET', `Dataset path ${dir} is a file, not a folder.\n${LAYOUTS_HELP}`);
  return detect(dir, 0, { target: options.target ?? 'breed', val, seed });
}

interface Resolved {
  target: Target;
  val: number;
  seed: number;
}

async function detect(dir: string, depth: number, opts: Resolved): Promise<Dataset> {
  const { dirs, images } = await scanDir(dir);
  const sub = (name: string): string => path.join(dir, name);

  if (dirs.includes('images') && (dirs.includes('annotations') || dirs.length === 1)) {
    const inner = await scanDir(sub('images'));
    if (inner.images.length > 0) return openOxford(dir, inner.images, opts);
  }
  const splitDirs = findSplitDirs(dir, dirs);
  const isSplitLayout = splitDirs.train !== undefined && (splitDirs.validation !== undefined || splitDirs.test !== undefined);
  if (!isSplitLayout && images.length === 0 && dirs.length === 1 && depth < MAX_WRAPPER_DEPTH) {
    const inner = await detect(sub(dirs[0]), depth + 1, opts);
    return { ...inner, notes: [`dataset found in the sub-folder ${dirs[0]}/`, ...inner.notes] };
  }
  if (opts.target === 'species') {
    throw new GraftError('BAD_ARGUMENT', `target "species" applies to the Oxford-IIIT Pet layout only; ${dir} is not one.`);
  }
  if (isSplitLayout) return openSplitFolders(dir, splitDirs, dirs, opts);

  const classDirs: string[] = [];
  const notes: string[] = [];
  const found = new Map<string, string[]>();
  for (const name of dirs) {
    const files = await collectImages(sub(name));
    if (files.length > 0) {
      classDirs.push(name);
      found.set(name, files);
    } else notes.push(`folder ${name}/ holds no images and is not a class`);
  }
  if (classDirs.length >= 2) {
    if (images.length > 0) notes.push(`${images.length} image(s) directly in ${dir} ignored: images must be inside class folders`);
    const candidates = classDirs.flatMap((c) => found.get(c)!.map((p) => ({ path: p, className: c })));
    return assemble(dir, 'class-folders', classDirs, candidates, notes, opts,
      `validation: ${Math.round(opts.val * 100)}% of each class, seeded split (seed ${opts.seed})`);
  }
  if (classDirs.length === 1) {
    throw new GraftError('DATASET', `Dataset ${dir} has only one class folder (${classDirs[0]}/); a classifier needs at least two.\n${LAYOUTS_HELP}`);
  }
  if (images.length > 0) {
    throw new GraftError('DATASET', `${dir} is a single folder of ${images.length} image(s) without classes: put each class in its own sub-folder.\n${LAYOUTS_HELP}`);
  }
  throw new GraftError('DATASET', `No images found in ${dir}.\n${LAYOUTS_HELP}`);
}

type SplitDirs = Partial<Record<Split, string>>;

const SPLIT_NAMES: Record<Split, string[]> = {
  train: ['train', 'training'],
  validation: ['validation', 'val', 'valid'],
  test: ['test', 'testing'],
};

function findSplitDirs(root: string, dirs: string[]): SplitDirs {
  const result: SplitDirs = {};
  for (const split of SPLITS) {
    const matches = dirs.filter((d) => SPLIT_NAMES[split].includes(d.toLowerCase()));
    if (matches.length > 1) {
      throw new GraftError('DATASET', `Dataset ${root} has several ${split} folders (${matches.join(', ')}); keep one.`);
    }
    if (matches.length === 1) result[split] = matches[0];
  }
  return result;
}

interface Candidate {
  path: string;
  className: string;
  /** Fixed split; candidates without one form the pool that the seeded split divides into train/validation. */
  split?: Split;
}

async function openSplitFolders(root: string, splitDirs: SplitDirs, dirs: string[], opts: Resolved): Promise<Dataset> {
  const notes: string[] = [];
  const candidates: Candidate[] = [];
  const classSet = new Set<string>();
  const used = new Set(Object.values(splitDirs));
  for (const other of dirs.filter((d) => !used.has(d))) notes.push(`folder ${other}/ is not a split folder and was ignored`);

  for (const split of SPLITS) {
    const name = splitDirs[split];
    if (!name) continue;
    const splitDir = path.join(root, name);
    const { dirs: classDirs, images } = await scanDir(splitDir);
    if (images.length > 0) notes.push(`${images.length} image(s) directly in ${name}/ ignored: images must be inside class folders`);
    for (const className of classDirs) {
      const files = await collectImages(path.join(splitDir, className));
      if (files.length === 0) {
        notes.push(`folder ${name}/${className}/ holds no images`);
        continue;
      }
      classSet.add(className);
      // Without a validation folder, validation is carved out of train by the seeded split.
      const fixed: Split | undefined = split === 'train' && !splitDirs.validation ? undefined : split;
      for (const p of files) candidates.push({ path: p, className, split: fixed });
    }
  }
  const classes = sortStrings([...classSet]);
  if (classes.length < 2) {
    throw new GraftError('DATASET', `Dataset ${root} has split folders but ${classes.length} class folder(s) with images inside them.\n${LAYOUTS_HELP}`);
  }
  const poolNote = splitDirs.validation
    ? `splits from the folders ${SPLITS.filter((s) => splitDirs[s]).map((s) => `${splitDirs[s]}/`).join(', ')}`
    : `no validation folder: validation is ${Math.round(opts.val * 100)}% of each class of ${splitDirs.train}/, seeded split (seed ${opts.seed})`;
  return assemble(root, 'split-folders', classes, candidates, notes, opts, poolNote);
}

async function openOxford(root: string, imageFiles: string[], opts: Resolved): Promise<Dataset> {
  const notes: string[] = [];
  const skipped: Dataset['skipped'] = [];
  const annotations = path.join(root, 'annotations');
  const speciesOf = parseSpeciesList(await readOptional(path.join(annotations, 'list.txt')));
  const trainvalText = await readOptional(path.join(annotations, 'trainval.txt'));
  const testText = await readOptional(path.join(annotations, 'test.txt'));
  const official = trainvalText !== undefined || testText !== undefined;
  const trainval = new Set(listNames(trainvalText ?? ''));
  const test = new Set(listNames(testText ?? ''));

  const candidates: Candidate[] = [];
  const present = new Set<string>();
  for (const file of imageFiles) {
    const name = path.basename(file, path.extname(file));
    const match = /^(.+)_\d+$/.exec(name);
    if (!match) {
      skipped.push({ path: file, reason: 'file name does not follow the Oxford-IIIT Pet pattern <breed>_<number>' });
      continue;
    }
    present.add(name);
    const breed = match[1];
    const species = speciesOf.get(name) ?? (/^[A-Z]/.test(breed) ? 'cat' : 'dog');
    const className = opts.target === 'species' ? species : breed;
    let split: Split | undefined;
    if (official) {
      if (test.has(name)) split = 'test';
      else if (!trainval.has(name)) split = 'train';
    }
    candidates.push({ path: file, className, split });
  }
  const classes = opts.target === 'species' ? ['cat', 'dog'] : sortStrings([...new Set(candidates.map((c) => c.className))]);
  if (official) {
    const missing = [...trainval, ...test].filter((n) => !present.has(n)).length;
    if (missing > 0) notes.push(`${missing} name(s) in trainval.txt/test.txt have no image in images/ (partial copy)`);
  }
  const poolNote = official
    ? `official split: test from test.txt; validation is ${Math.round(opts.val * 100)}% of each class of trainval.txt, seeded split (seed ${opts.seed})`
    : `no annotations/trainval.txt or test.txt: validation is ${Math.round(opts.val * 100)}% of each class, seeded split (seed ${opts.seed})`;
  const ds = await assemble(root, 'oxford-iiit-pet', classes, candidates, notes, opts, poolNote);
  const stem = (p: string): string => path.basename(p, path.extname(p));
  const unlisted = official ? ds.samples.filter((s) => !test.has(stem(s.path)) && !trainval.has(stem(s.path))).length : 0;
  if (unlisted > 0) ds.notes.push(`${unlisted} image(s) are in neither trainval.txt nor test.txt and were put in train`);
  return { ...ds, skipped: sortByPath([...skipped, ...ds.skipped]) };
}

function parseSpeciesList(text: string | undefined): Map<string, 'cat' | 'dog'> {
  const map = new Map<string, 'cat' | 'dog'>();
  for (const line of (text ?? '').split('\n')) {
    const [name, , species] = line.trim().split(/\s+/);
    if (!name || name.startsWith('#')) continue;
    if (species === '1') map.set(name, 'cat');
    else if (species === '2') map.set(name, 'dog');
  }
  return map;
}

function listNames(text: string): string[] {
  return text.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter((n) => n && !n.startsWith('#'));
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await fs.promises.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new GraftError('DATASET', `Cannot read ${file}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Drops unreadable/empty files into `skipped`, splits the pool and builds the sorted Dataset. */
async function assemble(root: string, layout: DatasetLayout, classes: string[], candidates: Candidate[],
  notes: string[], opts: Resolved, splitNote: string): Promise<Dataset> {
  const skipped: Dataset['skipped'] = [];
  const sizes = await Promise.all(candidates.map((c) => fileSize(c.path)));
  const usable: Candidate[] = [];
  candidates.forEach((c, i) => {
    const size = sizes[i];
    if (typeof size === 'string') skipped.push({ path: c.path, reason: size });
    else if (size === 0) skipped.push({ path: c.path, reason: 'empty file (0 bytes)' });
    else usable.push(c);
  });
  usable.sort((a, b) => compareStrings(a.path, b.path));
  const present = new Set(usable.map((c) => c.className));
  for (const c of classes.filter((name) => !present.has(name))) notes.push(`class ${c} has no usable image and was left out`);
  classes = classes.filter((name) => present.has(name));

  const labelOf = new Map(classes.map((c, i) => [c, i]));
  const samples: Sample[] = usable.map((c) => ({ path: c.path, label: labelOf.get(c.className)!, split: c.split ?? 'train' }));
  const pool = usable.flatMap((c, i) => (c.split === undefined ? [i] : []));
  if (pool.length > 0) {
    const { val } = stratifiedSplit(pool.map((i) => samples[i].label), opts.val, opts.seed);
    for (const j of val) samples[pool[j]].split = 'validation';
  }
  return { root, layout, classes, samples, skipped: sortByPath(skipped), notes: [splitNote, ...notes] };
}

async function fileSize(file: string): Promise<number | string> {
  try {
    return (await fs.promises.stat(file)).size;
  } catch (err) {
    return `cannot read file: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`;
  }
}

/** Visible sub-folders and image files of dir (names, sorted); hidden entries, __MACOSX and non-images are left out. */
async function scanDir(dir: string): Promise<{ dirs: string[]; images: string[] }> {
  const dirs: string[] = [];
  const images: string[] = [];
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new GraftError('DATASET', `Cannot read folder ${dir}: ${errorMessage(err)}`, { cause: err });
  }
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    let isDir = entry.isDirectory();
    if (entry.isSymbolicLink()) isDir = await fs.promises.stat(full).then((s) => s.isDirectory(), () => false);
    if (isDir) {
      if (!IGNORED_DIRS.has(entry.name)) dirs.push(entry.name);
    } else if (IMAGE_EXTENSIONS.has(path.extname(entry.name).toLowerCase())) {
      images.push(full);
    }
  }
  return { dirs: sortStrings(dirs), images: sortStrings(images) };
}

/** All image files below dir, recursively (symlinked folders followed once), sorted. */
export async function collectImages(dir: string, seen = new Set<string>()): Promise<string[]> {
  const real = await fs.promises.realpath(dir);
  if (seen.has(real)) return [];
  seen.add(real);
  const { dirs, images } = await scanDir(dir);
  const nested = [];
  for (const d of dirs) nested.push(...(await collectImages(path.join(dir, d), seen)));
  return sortStrings([...images, ...nested]);
}

function checkFraction(fraction: number): void {
  if (!(fraction >= 0 && fraction < 1)) {
    throw new GraftError('BAD_ARGUMENT', `Validation fraction must be in [0, 1), got ${fraction}`);
  }
}

/**
 * Seeded stratified split of sample indices: per class, round(n·fraction) indices go to val (keeping at least one in
 * train), chosen by a seeded shuffle. Both lists are returned in ascending order.
 */
export function stratifiedSplit(labels: number[], fraction: number, seed: number): { train: number[]; val: number[] } {
  checkFraction(fraction);
  const byClass = new Map<number, number[]>();
  labels.forEach((label, i) => {
    const list = byClass.get(label);
    if (list) list.push(i);
    else byClass.set(label, [i]);
  });
  const rng = new Rng(seed);
  const train: number[] = [];
  const val: number[] = [];
  for (const label of [...byClass.keys()].sort((a, b) => a - b)) {
    const indices = rng.shuffle(byClass.get(label)!);
    const nVal = Math.min(Math.round(indices.length * fraction), indices.length - 1);
    val.push(...indices.slice(0, nVal));
    train.push(...indices.slice(nVal));
  }
  return { train: train.sort((a, b) => a - b), val: val.sort((a, b) => a - b) };
}

export interface DatasetStats {
  classes: string[];
  /** counts[split][label] = number of images. */
  counts: Record<Split, number[]>;
  skipped: number;
}

/** Number of images per class and split, plus the number of skipped files. */
export function datasetStats(ds: Dataset): DatasetStats {
  const counts = Object.fromEntries(SPLITS.map((s) => [s, ds.classes.map(() => 0)])) as Record<Split, number[]>;
  for (const s of ds.samples) counts[s.split][s.label]++;
  return { classes: ds.classes, counts, skipped: ds.skipped.length };
}

/** A plain-text table of datasetStats: one row per class, one column per non-empty split, totals. */
export function formatStats(stats: DatasetStats): string {
  const splits = SPLITS.filter((s) => s === 'train' || stats.counts[s].some((n) => n > 0));
  const rowTotal = (i: number): number => splits.reduce((sum, s) => sum + stats.counts[s][i], 0);
  const rows: string[][] = [['class', ...splits, 'total']];
  stats.classes.forEach((name, i) => rows.push([name, ...splits.map((s) => String(stats.counts[s][i])), String(rowTotal(i))]));
  const colTotal = (s: Split): number => stats.counts[s].reduce((a, b) => a + b, 0);
  rows.push(['total', ...splits.map((s) => String(colTotal(s))), String(splits.reduce((sum, s) => sum + colTotal(s), 0))]);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]): string => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(rows[0]), rule, ...rows.slice(1, -1).map(line), rule, line(rows[rows.length - 1]),
    `skipped files: ${stats.skipped}`].join('\n');
}

/** n samples spread evenly over the classes (round-robin over seeded shuffles of each class). */
export function sampleForDisplay(ds: Dataset, n: number, seed: number): Sample[] {
  const rng = new Rng(seed);
  const perClass = ds.classes.map((_, label) => rng.shuffle(ds.samples.filter((s) => s.label === label)));
  const out: Sample[] = [];
  for (let round = 0; out.length < n; round++) {
    let added = false;
    for (const list of perClass) {
      if (round < list.length && out.length < n) {
        out.push(list[round]);
        added = true;
      }
    }
    if (!added) break;
  }
  return out;
}

/** Deletes the given files (only on the user's explicit --delete-corrupt); returns the paths actually removed. */
export async function deleteCorrupt(paths: string[]): Promise<string[]> {
  const deleted: string[] = [];
  for (const file of paths) {
    let stat: fs.Stats;
    try {
      stat = await fs.promises.lstat(file);
    } catch {
      continue;
    }
    if (!stat.isFile()) throw new GraftError('BAD_ARGUMENT', `Refusing to delete ${file}: not a regular file`);
    await fs.promises.unlink(file);
    deleted.push(file);
  }
  return deleted;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortStrings(items: string[]): string[] {
  return items.sort(compareStrings);
}

function sortByPath<T extends { path: string }>(items: T[]): T[] {
  return items.sort((a, b) => compareStrings(a.path, b.path));
}
