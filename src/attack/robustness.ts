/**
 * Accuracy under attack per ε, as Foolbox and torchattacks report it: every image is attacked separately at
 * each ε and counted correct if the model's prediction on the 8-bit adversarial crop is still its class.
 * The dataset is streamed in batches, so memory stays bounded.
 */
import { openDataset } from '../data/dataset.js';
import { loadImageRgbCropped } from '../image/preprocess.js';
import type { RgbImage } from '../image/decode.js';
import type { GraftModel } from '../models/load.js';
import { GraftError, errorMessage } from '../util/errors.js';
import type { ProgressSink } from '../util/progress.js';
import { classSetsFor, type ClassMap } from './classmap.js';
import { LossGradient, cropToPixels, pixelsToCrop } from './common.js';
import { argmax } from '../math/rows.js';
import { runAttack, type AttackSettings } from './methods.js';
import { CropClassifier } from './image.js';

export interface RobustnessOptions {
  /** Radii in pixel units; 0 means the clean image. */
  eps: number[];
  settings: Omit<AttackSettings, 'eps'>;
  /** At most this many images (taken evenly from each class, in file order). */
  limit?: number;
  /** Targeted attack toward this model class instead of an untargeted one. */
  target?: number;
  classMap?: ClassMap;
  /** Split to use (default: validation, else test, else train). */
  split?: 'train' | 'validation' | 'test';
  batchSize?: number;
  progress?: ProgressSink;
}

export interface RobustnessReport {
  model: string;
  dataset: string;
  split: string;
  /** How a prediction is judged correct: model labels = dataset classes, or dataset classes mapped to model classes. */
  mode: 'labels' | 'map';
  n: number;
  eps: number[];
  accuracy: number[];
  /** Untargeted: the share of clean-correct images the attack made wrong; targeted: the share predicted as the target. */
  successRate: number[];
  settings: Omit<AttackSettings, 'eps'>;
  target?: number;
  skipped: { path: string; reason: string }[];
}

/** Takes up to `limit` samples alternating between classes, so a small limit still covers every class. */
function interleave<T extends { label: number }>(samples: T[], limit: number): T[] {
  const byClass = new Map<number, T[]>();
  for (const s of samples) byClass.set(s.label, [...(byClass.get(s.label) ?? []), s]);
  const queues = [...byClass.values()];
  const out: T[] = [];
  for (let i = 0; out.length < limit && queues.some((q) => i < q.length); i++) {
    for (const q of queues) if (i < q.length && out.length < limit) out.push(q[i]);
  }
  return out;
}

/** Measures accuracy under attack for each ε on a dataset split. */
export async function robustness(m: GraftModel, datasetRoot: string, opts: RobustnessOptions): Promise<RobustnessReport> {
  const ds = await openDataset(datasetRoot);
  const split = opts.split ?? (['validation', 'test', 'train'] as const).find((s) => ds.samples.some((x) => x.split === s))!;
  const pool = ds.samples.filter((s) => s.split === split);
  if (!pool.length) throw new GraftError('DATASET', `${ds.root}: no images in split "${split}"`);
  const samples = interleave(pool, opts.limit ?? pool.length);
  const { mode, sets } = classSetsFor(m, ds.classes, opts.classMap);
  const batch = Math.max(1, Math.min(opts.batchSize ?? 4, samples.length));
  const correct = opts.eps.map(() => 0);
  const succeeded = opts.eps.map(() => 0);
  let cleanCorrect = 0;
  let n = 0;
  const skipped = [...ds.skipped];
  const task = opts.progress?.start('robustness', samples.length, 'img');
  const classifier = await CropClassifier.create(m);
  const lg = opts.eps.some((e) => e > 0) ? await LossGradient.create(m, batch) : undefined;
  try {
    for (let start = 0; start < samples.length; start += batch) {
      const chunk = samples.slice(start, start + batch);
      const loaded = await Promise.all(chunk.map(async (s) => {
        try {
          return await loadImageRgbCropped(s.path, m.preprocess);
        } catch (err) {
          skipped.push({ path: s.path, reason: errorMessage(err) });
          return undefined;
        }
      }));
      const ok = chunk.map((s, i) => ({ s, crop: loaded[i] })).filter((x): x is { s: typeof chunk[number]; crop: RgbImage } => x.crop !== undefined);
      if (!ok.length) continue;
      const truth = ok.map(({ s }) => new Set(sets[s.label]));
      const judge = (probs: Float32Array[]) => probs.map((p, i) => {
        const pred = argmax(p);
        return { correct: truth[i].has(pred), pred };
      });
      const clean = judge(await classifier.classify(ok.map((x) => x.crop)));
      cleanCorrect += clean.filter((c) => c.correct).length;
      n += ok.length;
      const x0s = ok.map((x) => cropToPixels(x.crop, m.preprocess));
      for (const [e, eps] of opts.eps.entries()) {
        let verdicts = clean;
        if (eps > 0) {
          const goal = opts.target !== undefined
            ? { targeted: true, sets: ok.map(() => [opts.target!]) }
            : { targeted: false, sets: ok.map(({ s }) => sets[s.label]) };
          const result = await runAttack(lg!, x0s, goal, { ...opts.settings, eps });
          verdicts = judge(await classifier.classify(result.adversarial.map((px) => pixelsToCrop(px, m.preprocess))));
        }
        correct[e] += verdicts.filter((v) => v.correct).length;
        succeeded[e] += verdicts.filter((v, i) => (opts.target !== undefined ? v.pred === opts.target : clean[i].correct && !v.correct)).length;
      }
      task?.increment(chunk.length);
    }
  } finally {
    await lg?.release();
    await classifier.release();
    task?.finish();
  }
  const denominator = opts.target !== undefined ? n : cleanCorrect;
  return {
    model: m.id,
    dataset: ds.root,
    split,
    mode,
    n,
    eps: opts.eps,
    accuracy: correct.map((c) => (n ? c / n : NaN)),
    successRate: succeeded.map((s) => (denominator ? s / denominator : NaN)),
    settings: opts.settings,
    target: opts.target,
    skipped,
  };
}
