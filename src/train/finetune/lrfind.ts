/**
 * `graft lr-find --fine-tune`: the learning-rate range test (Smith 2017) of end-to-end fine-tuning, as fastai's
 * `learn.unfreeze(); learn.lr_find()`. It starts where `graft train --fine-tune` starts (graft train's head on
 * the frozen backbone's features), trains that head and the unfrozen backbone layers on augmented mini-batches
 * while the base learning rate (the head's; the backbone gets lr × backboneLrMult) grows geometrically, and
 * records the loss of every batch before its update. The trained weights are thrown away.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDataset, type Target } from '../../data/dataset.js';
import { DEFAULT_AUGMENT, type Augment } from '../../image/augment.js';
import { loadBatch } from '../../image/batch.js';
import { batchDims } from '../../image/layout.js';
import { loadModel, type GraftModel } from '../../models/load.js';
import { DEFAULT_MODEL } from '../../models/registry.js';
import { readModel } from '../../onnx/codec.js';
import { tensorSize } from '../../onnx/types.js';
import { plotLrFind } from '../../report/plots.js';
import { GraftError } from '../../util/errors.js';
import { progressOrSilent, type ProgressSink } from '../../util/progress.js';
import { Rng } from '../../util/rng.js';
import { backboneAt } from '../extract.js';
import { trainClassifier } from '../frozen-backbone.js';
import { LR_FIND_DEFAULTS, RangeTest, type LrFindOptions, type LrFindResult } from '../lrfind.js';
import { scoreRows } from './evaluation.js';
import { FINE_TUNE_DEFAULTS, fineTuneNetwork, headFromClassifier } from './finetune.js';
import { derivedSeed } from './loop.js';
import type { Unfreeze } from './params.js';
import { TrainingStep, fillBatch } from './step.js';

export interface FineTuneLrFindOptions extends LrFindOptions {
  /** A registry name or path, or a loaded model (default: the registry's default). */
  model?: string | GraftModel;
  /** Default FINE_TUNE_DEFAULTS.unfreeze. */
  unfreeze?: Unfreeze;
  backboneLrMult?: number;
  labelSmoothing?: number;
  /** Random augmentation of the training images (DEFAULT_AUGMENT unless false), as fine-tuning has. */
  augment?: Augment | false;
  target?: Target;
  /** Plot file (PNG). */
  out?: string;
  progress?: ProgressSink;
  log?: (line: string) => void;
}

export interface FineTuneLrFindResult extends LrFindResult {
  model: string;
  images: number;
  /** Backbone blocks trained during the sweep. */
  blocks: string[];
  backboneLrMult: number;
  plot?: string;
}

/** Fine-tuning's range test on the training split of `datasetRoot`; see the module comment. */
export async function lrFindFineTune(datasetRoot: string, opts: FineTuneLrFindOptions = {}): Promise<FineTuneLrFindResult> {
  const o = { ...LR_FIND_DEFAULTS, batchSize: FINE_TUNE_DEFAULTS.batchSize, ...opts };
  const sweep = new RangeTest(o);
  const seed = o.seed;
  const log = opts.log ?? (() => {});
  const model = typeof opts.model === 'object' ? opts.model : await loadModel(opts.model ?? DEFAULT_MODEL, { progress: opts.progress });
  const ds = await openDataset(datasetRoot, { val: 0, seed, target: opts.target });
  const train = ds.samples.filter((s) => s.split === 'train').map((s) => ({ path: s.path, label: s.label }));
  if (!train.length) throw new GraftError('DATASET', `${datasetRoot}: no training images`);

  const head = await startHead(datasetRoot, model, seed, opts, log);
  const mult = opts.backboneLrMult ?? FINE_TUNE_DEFAULTS.backboneLrMult;
  const backbone = backboneAt(model, 'features');
  const { net, selection } = fineTuneNetwork(model, backbone, head, { labels: ds.classes, tap: 'features', unfreeze: opts.unfreeze ?? FINE_TUNE_DEFAULTS.unfreeze, backboneLrMult: mult });
  log(`range test of fine-tuning: ${selection.blocks.length} block(s) + the head, lr ${o.startLr} → ${o.endLr} over at most ${o.steps} steps of ${o.batchSize} images (backbone lr × ${mult})`);

  const B = o.batchSize;
  const k = ds.classes.length;
  const inputDims = batchDims(B, model.preprocess);
  const step = await TrainingStep.create(net, {
    batchSize: B, nClasses: k, inputDims, optimizer: o.optimizer, lr: o.startLr, schedule: (s) => sweep.lr(s) / o.startLr, totalSteps: o.steps,
  });
  const input = new Float32Array(tensorSize(inputDims));
  const target = new Float32Array(B * k);
  const augment = opts.augment === false ? undefined : opts.augment ?? DEFAULT_AUGMENT;
  const rng = new Rng(seed);
  let order: number[] = [];
  const task = progressOrSilent(opts.progress).start('lr-find (fine-tune)', o.steps, 'step');
  try {
    for (let s = 0; s < o.steps; s++) {
      // Epochs of shuffled images, one mini-batch per step (a short dataset simply wraps around).
      const rows: number[] = [];
      while (rows.length < Math.min(B, train.length)) {
        if (!order.length) order = rng.shuffle(train.map((_, i) => i));
        rows.push(order.pop()!);
      }
      const batch = await loadBatch(rows.map((r) => train[r].path), net.preprocess, { augment, seed: derivedSeed(seed, s) });
      if (!batch.indices.length) continue;
      const labels = batch.indices.map((i) => train[rows[i]].label);
      fillBatch(input, target, batch.data, labels, B, k, opts.labelSmoothing ?? FINE_TUNE_DEFAULTS.labelSmoothing);
      const logits = await step.run(input, target, s, 0);
      // The loss of the batch as it was before this step's update (the logits come from the forward pass).
      const loss = scoreRows(logits, labels, k).loss / labels.length;
      task.update(s + 1, `lr ${sweep.lr(s).toExponential(1)} loss ${loss.toFixed(3)}`);
      if (!sweep.record(s, loss)) break;
    }
  } finally {
    task.finish();
    await step.release();
  }
  const result = sweep.result();
  if (opts.out) await plotLrFind(result.points, result.suggested, opts.out);
  return { ...result, model: model.id, images: train.length, blocks: selection.blocks, backboneLrMult: mult, plot: opts.out };
}

/** Fine-tuning's first stage: graft train's own (cross-validated) head on the frozen features, read back from its export. */
async function startHead(datasetRoot: string, model: GraftModel, seed: number, opts: FineTuneLrFindOptions, log: (line: string) => void) {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-lr-find-'));
  try {
    const report = await trainClassifier(datasetRoot, { model, seed, target: opts.target, out: scratch, plots: false, progress: opts.progress, log });
    return headFromClassifier(readModel(report.files.model!));
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}
