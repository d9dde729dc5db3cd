/**
 * Which model classes count as a dataset class: for an ImageNet model on a cats/dogs dataset, "cats" is any
 * of ImageNet 281–285 and "dogs" any of 151–268. A graft-trained classifier's labels are the dataset
 * classes themselves.
 */
import type { GraftModel } from '../models/load.js';
import { GraftError } from '../util/errors.js';

/** Dataset class name (lower case) → model class indices. */
export type ClassMap = Record<string, number[]>;

/** Built-in map for the cats/dogs datasets (also the singular and Kaggle PetImages names). */
export const DEFAULT_CLASS_MAP_TEXT = 'cats=281-285;dogs=151-268;cat=281-285;dog=151-268';

/** Parses "name=lo-hi,i,…;name2=…" (ranges inclusive) into a ClassMap. */
export function parseClassMap(text: string): ClassMap {
  const map: ClassMap = {};
  for (const entry of text.split(';').map((s) => s.trim()).filter(Boolean)) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new GraftError('BAD_ARGUMENT', `--class-map entry "${entry}" is not name=ranges (e.g. cats=281-285)`);
    const name = entry.slice(0, eq).trim().toLowerCase();
    const indices: number[] = [];
    for (const part of entry.slice(eq + 1).split(',').map((s) => s.trim())) {
      const m = /^(\d+)(?:-(\d+))?$/.exec(part);
      if (!m) throw new GraftError('BAD_ARGUMENT', `--class-map: "${part}" in "${entry}" is not an index or lo-hi range`);
      const lo = Number(m[1]);
      const hi = m[2] === undefined ? lo : Number(m[2]);
      if (hi < lo) throw new GraftError('BAD_ARGUMENT', `--class-map: range ${part} is empty`);
      for (let i = lo; i <= hi; i++) indices.push(i);
    }
    map[name] = indices;
  }
  return map;
}

export interface ClassSets {
  /** 'labels': the model's labels are the dataset classes; 'map': dataset classes mapped to model classes. */
  mode: 'labels' | 'map';
  /** Model class indices that count as each dataset class. */
  sets: number[][];
}

/** Resolves each dataset class to the set of model classes that count as it (user map entries override the defaults). */
export function classSetsFor(m: GraftModel, datasetClasses: string[], userMap?: ClassMap): ClassSets {
  const byLabel = datasetClasses.map((c) => m.labels.indexOf(c));
  if (!userMap && byLabel.every((i) => i >= 0)) return { mode: 'labels', sets: byLabel.map((i) => [i]) };
  const map = { ...parseClassMap(DEFAULT_CLASS_MAP_TEXT), ...userMap };
  const sets = datasetClasses.map((c) => {
    const set = map[c.toLowerCase()];
    if (!set) {
      throw new GraftError('UNKNOWN_CLASS', `dataset class "${c}" is neither a label of ${m.id} nor in the class map; give --class-map "${c}=lo-hi,…"`);
    }
    const bad = set.find((i) => i >= m.labels.length);
    if (bad !== undefined) throw new GraftError('UNKNOWN_CLASS', `--class-map: class index ${bad} for "${c}" is out of range for ${m.id} (${m.labels.length} classes)`);
    return set;
  });
  return { mode: 'map', sets };
}
