/**
 * Done-when measurement for targeted PGD (L∞, ε = 8 pixel units, torchattacks defaults α = 2, 10 steps) on
 * 200 cats_and_dogs_filtered validation images with the default model: dogs → "tabby cat" (281), cats →
 * "golden retriever" (207). Each adversarial crop is written as PNG, read back through the model's own
 * preprocessing and classified; success = the read-back PNG is the target class.
 * Run: node --import tsx bench/attack-success.ts [N=200] [batch=4]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { argmax } from '../src/math/rows.js';
import { CropClassifier, LossGradient, cropToPixels, linfDistance, pgd, pixelsToCrop, rereadPng } from '../src/attack/index.js';
import { openDataset } from '../src/data/dataset.js';
import { savePng } from '../src/image/encode.js';
import { loadImageRgbCropped } from '../src/image/preprocess.js';
import { loadModel } from '../src/models/load.js';

const shared = process.env.GRAFT_SHARED ?? path.resolve(import.meta.dirname, '..', '..', 'shared');
process.env.GRAFT_MODELS ??= path.join(shared, 'models');
const total = Number(process.argv[2] ?? 200);
const batch = Number(process.argv[3] ?? 4);
const TARGET = { cats: 207, dogs: 281 } as Record<string, number>;

const m = await loadModel();
const ds = await openDataset(path.join(shared, 'datasets', 'cats_and_dogs_filtered'));
const val = ds.samples.filter((s) => s.split === 'validation');
const perClass = ds.classes.map((_, c) => val.filter((s) => s.label === c).slice(0, Math.ceil(total / ds.classes.length)));
const samples = perClass.flat().slice(0, total);
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-attack-bench-'));
const lg = await LossGradient.create(m, batch);
const classifier = await CropClassifier.create(m);
const start = performance.now();
let success = 0;
let maxLinf = 0;
let rereadDirect = 0;
let evaluations = 0;
for (let i = 0; i < samples.length; i += batch) {
  const chunk = samples.slice(i, i + batch);
  const crops = await Promise.all(chunk.map((s) => loadImageRgbCropped(s.path, m.preprocess)));
  const targets = chunk.map((s) => TARGET[ds.classes[s.label]]);
  const result = await pgd(lg, crops.map((c) => cropToPixels(c, m.preprocess)), { targeted: true, sets: targets.map((t) => [t]) }, { eps: 8, seed: i });
  evaluations += result.evaluations.reduce((a, b) => a + b, 0);
  const reread = [];
  for (const [k, px] of result.adversarial.entries()) {
    const file = path.join(outDir, `${i + k}.png`);
    const adv = pixelsToCrop(px, m.preprocess);
    await savePng(adv, file);
    const back = await rereadPng(m, file, adv);
    if (back.reread === 'direct') rereadDirect++;
    maxLinf = Math.max(maxLinf, linfDistance(back.crop.data, crops[k].data));
    reread.push(back.crop);
  }
  const probs = await classifier.classify(reread);
  success += probs.filter((p, k) => argmax(p) === targets[k]).length;
  process.stderr.write(`\r${i + chunk.length}/${samples.length}  success ${success}`);
}
const seconds = (performance.now() - start) / 1000;
await lg.release();
await classifier.release();
fs.rmSync(outDir, { recursive: true, force: true });
console.log(`\ntargeted PGD L∞ ε=8 px, α=2, 10 steps (+ up to 10 refinement steps on the 8-bit image), ${m.id}`);
console.log(`success after PNG round trip: ${success}/${samples.length} = ${((100 * success) / samples.length).toFixed(1)}%  (max L∞ on the PNGs ${maxLinf} px; ${rereadDirect} read back directly)`);
console.log(`gradient evaluations per image: ${(evaluations / samples.length).toFixed(2)} (11 = the 10 steps plus the check of the 8-bit image: no refinement needed)`);
console.log(`time: ${seconds.toFixed(1)} s (${((1000 * seconds) / samples.length).toFixed(0)} ms/image, batch ${batch})`);
