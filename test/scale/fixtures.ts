import fs from 'node:fs';
import path from 'node:path';
import { catsDogs } from '../helpers/paths.js';

/**
 * A small split-folders dataset of symlinks into ../shared's cats_and_dogs_filtered: `perClass` images of each class
 * in train and in validation, plus `bad.jpg`, a file that is not an image (it must be recorded, never fatal).
 */
export function smallCatsDogs(dir: string, perClass: number, withBadImage = true): string {
  for (const split of ['train', 'validation']) {
    for (const cls of ['cats', 'dogs']) {
      const from = path.join(catsDogs, split, cls);
      const to = path.join(dir, split, cls);
      fs.mkdirSync(to, { recursive: true });
      for (const name of fs.readdirSync(from).sort().slice(0, perClass)) fs.symlinkSync(path.join(from, name), path.join(to, name));
    }
  }
  if (withBadImage) fs.writeFileSync(path.join(dir, 'train', 'cats', 'bad.jpg'), 'not an image');
  return dir;
}

export function readJsonLines<T>(file: string): T[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
}
