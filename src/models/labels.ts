/** The 1000 standard ImageNet class names, and lookup of a class by index or text. */
import fs from 'node:fs';
import path from 'node:path';
import { GraftError } from '../util/errors.js';
import { cacheDir, modelDirs } from '../util/paths.js';

export const IMAGENET_LABELS_FILE = 'imagenet_classes.json';
export const IMAGENET_LABELS_URL = 'https://raw.githubusercontent.com/microsoft/AI-For-Beginners/main/lessons/4-ComputerVision/08-TransferLearning/imagenet_classes.json';

let cached: string[] | undefined;

/** Reads imagenet_classes.json from $GRAFT_MODELS or the cache dir. */
export function imagenetLabels(): string[] {
  if (cached) return cached;
  for (const dir of [...modelDirs(), cacheDir('models')]) {
    const f = path.join(dir, IMAGENET_LABELS_FILE);
    if (fs.existsSync(f)) {
      const labels = JSON.parse(fs.readFileSync(f, 'utf8')) as string[];
      if (labels.length !== 1000) throw new GraftError('MODEL_FORMAT', `${f} must list 1000 class names, it has ${labels.length}`);
      return (cached = labels);
    }
  }
  throw new GraftError('MODEL_NOT_FOUND', `${IMAGENET_LABELS_FILE} not found; place it (from ${IMAGENET_LABELS_URL}) in $GRAFT_MODELS or ${cacheDir('models')}`);
}

/**
 * Finds a class by index ("281") or text ("tabby cat"): an exact synonym of a label wins
 * ("tabby, tabby cat" has synonyms "tabby" and "tabby cat"), then a unique substring match.
 */
export function findClass(labels: string[], query: string): number {
  const q = query.trim().toLowerCase();
  if (/^\d+$/.test(q)) {
    const i = Number(q);
    if (i < labels.length) return i;
    throw new GraftError('UNKNOWN_CLASS', `class index ${i} is out of range (0–${labels.length - 1})`);
  }
  const exact = labels.findIndex((l) => l.toLowerCase() === q || l.toLowerCase().split(',').map((s) => s.trim()).includes(q));
  if (exact >= 0) return exact;
  const partial = labels.map((l, i) => [l, i] as const).filter(([l]) => l.toLowerCase().includes(q));
  if (partial.length === 1) return partial[0][1];
  if (partial.length > 1) {
    throw new GraftError('UNKNOWN_CLASS', `"${query}" matches ${partial.length} classes: ${partial.slice(0, 8).map(([l, i]) => `${i} "${l}"`).join(', ')}${partial.length > 8 ? ', …' : ''}; be more specific or give the index`);
  }
  throw new GraftError('UNKNOWN_CLASS', `no class matches "${query}"`);
}
