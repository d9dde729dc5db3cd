/** Finding image files: folder scans shared by dataset layouts and by commands that take images or folders. */
import fs from 'node:fs';
import path from 'node:path';
import { GraftError, errorMessage } from '../util/errors.js';

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.gif', '.bmp', '.webp', '.tif', '.tiff']);
const IGNORED_DIRS = new Set(['__MACOSX']);

/** Code-unit order: the same on every machine and locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function sortStrings(items: string[]): string[] {
  return items.sort(compareStrings);
}

/** Visible sub-folders and image files of dir (names, sorted); hidden entries, __MACOSX and non-images are left out. */
export async function scanDir(dir: string): Promise<{ dirs: string[]; images: string[] }> {
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

/**
 * Expands image arguments as a user gives them: files are kept as given (a missing or broken one is reported by the
 * decoder, with the rest still classified); folders become their image files, recursively (hidden entries and
 * non-images left out), in a stable order. Arguments keep their order, so a path given twice is classified twice.
 */
export async function expandImagePaths(args: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const arg of args) {
    const stat = await fs.promises.stat(arg).catch(() => undefined);
    if (stat?.isDirectory()) {
      const images = await collectImages(arg);
      if (images.length === 0) throw new GraftError('BAD_ARGUMENT', `No image files (${[...IMAGE_EXTENSIONS].join(' ')}) in folder ${arg}`);
      out.push(...images);
    } else {
      out.push(arg);
    }
  }
  return out;
}
