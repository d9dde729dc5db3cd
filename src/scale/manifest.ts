/** The manifest: one JSON line per image, sorted by path; its sha256 is in plan.json. */
import type { Split } from '../data/dataset.js';

export const MANIFEST_FILE = 'manifest.jsonl';

export interface ManifestEntry {
  /** Path relative to the plan's root, with `/` separators. */
  image: string;
  /** Class name and split, for labelled datasets. */
  class?: string;
  split?: Split;
}

export function manifestLines(entries: ManifestEntry[]): string {
  return entries.map((e) => JSON.stringify(e) + '\n').join('');
}
