/** A tiny on-disk image dataset whose classes differ in colour and stripe direction, so a small CNN can learn it in seconds. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../src/util/rng.js';
import { buildArchitecture } from '../../src/models/builders/index.js';
import type { GraftModel } from '../../src/models/load.js';
import { PREPROCESS_TORCH } from '../../src/image/preprocess.js';

export const SYNTHETIC_CLASSES = ['horizontal', 'vertical'];

/** Writes root/{train,validation[,test]}/{horizontal,vertical}/*.png (48×40 px, noisy stripes) and returns root. */
export async function syntheticDataset(perClass: { train: number; validation: number; test?: number }, seed = 1): Promise<string> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-synth-'));
  const rng = new Rng(seed);
  const [w, h] = [48, 40];
  for (const split of ['train', 'validation', 'test'] as const) {
    for (const [label, cls] of SYNTHETIC_CLASSES.entries()) {
      const dir = path.join(root, split, cls);
      if (!perClass[split]) continue;
      fs.mkdirSync(dir, { recursive: true });
      for (let i = 0; i < perClass[split]!; i++) {
        const px = Buffer.alloc(w * h * 3);
        const period = 4 + rng.int(5);
        const tint = [rng.int(256), rng.int(256), rng.int(256)];
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const on = Math.floor((label === 0 ? y : x) / period) % 2 === 0;
            for (let c = 0; c < 3; c++) px[(y * w + x) * 3 + c] = Math.max(0, Math.min(255, (on ? tint[c] : 255 - tint[c]) + Math.round(rng.normal() * 20)));
          }
        }
        await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(path.join(dir, `${i}.png`));
      }
    }
  }
  return root;
}

/** A "pretrained" backbone: the scratch CNN builder at 32 px with fixed random weights. */
export function tinyBackbone(): GraftModel {
  const built = buildArchitecture('scratch_cnn', { classes: 10, seed: 3, inputSize: 32 });
  return {
    id: 'tiny', source: 'test', model: built.model, inputName: built.inputName, outputName: built.outputName, output: 'logits',
    preprocess: { ...PREPROCESS_TORCH, size: [32, 32], resizeTo: undefined }, labels: [], hash: 'tiny',
    taps: { ...built.taps, features: built.featureTap, lastConv: built.lastConvTap },
  };
}
