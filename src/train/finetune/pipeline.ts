/**
 * The whole `graft train --fine-tune` / from-scratch run: (head on frozen features, then unfreeze and train
 * end to end) or (all weights from random initialisation), checkpoints in OUT/checkpoint, then OUT/model.onnx,
 * OUT/report.json and OUT/curves.png. A run resumed from its checkpoint needs only the checkpoint folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readModel, writeModel } from '../../onnx/codec.js';
import type { GraftModel } from '../../models/load.js';
import { writeFileAtomic } from '../../util/fsutil.js';
import { plotConfusion, plotCurves } from '../../viz/plots.js';
import { trainClassifier, type SplitReport, type TrainOptions } from '../transfer.js';
import type { Pooling } from '../extract.js';
import { fineTune, headFromClassifier, resumeTraining, trainFromScratch, type EndToEndOptions, type EndToEndResult } from './finetune.js';
import type { Unfreeze } from './params.js';

export interface PipelineOptions extends Omit<EndToEndOptions, 'dataset' | 'checkpointDir' | 'resume' | 'extra'> {
  out: string;
  /** Fine-tune this pretrained model (after training its head), or … */
  model?: GraftModel;
  /** … train this architecture from scratch. */
  architecture?: string;
  inputSize?: number;
  tap?: string;
  pooling?: Pooling;
  unfreeze?: Unfreeze;
  backboneLrMult?: number;
  /** Options of the frozen-feature head stage (trainClassifier); its epochs are `--epochs-head`. */
  head?: Omit<TrainOptions, 'model' | 'out' | 'seed' | 'val' | 'target' | 'progress' | 'log' | 'signal'>;
  plots?: boolean;
}

export interface PipelineReport {
  mode: 'fine-tune' | 'scratch';
  classes: string[];
  /** The head on frozen features (fine-tune mode): same split, same seed. */
  frozen?: { accuracy: number; top3: number; loss: number; n: number; epochs: number };
  fineTuned?: SplitReport;
  scratch?: SplitReport;
  bestEpoch: number;
  history: EndToEndResult['history'];
  trained: EndToEndResult['trained'];
  interrupted: boolean;
  timing: EndToEndResult['timing'] & { headSeconds?: number; totalSeconds: number };
  files: { model?: string; report?: string; curves?: string; confusion?: string; checkpoint: string };
}

/** Runs (or, with `resume`, continues from that checkpoint folder) a fine-tuning or from-scratch training and writes its outputs to `out`. */
export async function trainEndToEnd(dataset: string | undefined, opts: PipelineOptions & { resume?: string }): Promise<PipelineReport> {
  const started = Date.now();
  const checkpoint = opts.resume ?? path.join(opts.out, 'checkpoint');
  const hooks = { signal: opts.signal, onEpoch: opts.onEpoch, progress: opts.progress, log: opts.log };
  let result: EndToEndResult;
  let headSeconds: number | undefined;
  if (opts.resume) {
    result = await resumeTraining(opts.resume, hooks);
  } else if (opts.architecture) {
    const { head: _head, resume: _resume, ...rest } = opts;
    result = await trainFromScratch({ ...rest, dataset: dataset!, architecture: opts.architecture, checkpointDir: checkpoint });
  } else {
    const headStarted = Date.now();
    const frozenOut = path.join(opts.out, 'frozen');
    const frozen = await trainClassifier(dataset!, {
      ...opts.head, model: opts.model, tap: opts.tap, pooling: opts.pooling, seed: opts.seed, val: opts.val, target: opts.target,
      out: frozenOut, plots: false, progress: opts.progress, log: opts.log, signal: opts.signal,
    });
    headSeconds = (Date.now() - headStarted) / 1000;
    opts.log?.(`frozen head: val accuracy ${(frozen.val.accuracy * 100).toFixed(2)}% (${frozen.val.n} images) — now unfreezing`);
    const head = headFromClassifier(readModel(frozen.files.model!));
    const summary = { accuracy: frozen.val.accuracy, top3: frozen.val.top3, loss: frozen.val.loss, n: frozen.val.n, epochs: frozen.head.epochs };
    const { head: _head, resume: _resume, ...rest } = opts;
    result = await fineTune({ ...rest, dataset: dataset!, model: opts.model!, head, checkpointDir: checkpoint, extra: { frozen: summary } });
  }
  const mode = result.request.mode;
  const report: PipelineReport = {
    mode, classes: result.classes,
    frozen: result.request.extra.frozen as PipelineReport['frozen'],
    [mode === 'scratch' ? 'scratch' : 'fineTuned']: result.val,
    bestEpoch: result.bestEpoch, history: result.history, trained: result.trained, interrupted: result.interrupted,
    timing: { ...result.timing, headSeconds, totalSeconds: 0 },
    files: { checkpoint },
  };
  const out = opts.out;
  if (!result.interrupted) {
    await fs.promises.mkdir(out, { recursive: true });
    report.files.model = path.join(out, 'model.onnx');
    await writeModel(result.model, report.files.model);
    if (opts.plots !== false && result.history.length) {
      report.files.curves = path.join(out, 'curves.png');
      await plotCurves(result.history, report.files.curves);
      if (result.val?.confusion) {
        report.files.confusion = path.join(out, 'confusion.png');
        await plotConfusion(result.val.confusion, result.classes, report.files.confusion);
      }
    }
    report.files.report = path.join(out, 'report.json');
  }
  report.timing.totalSeconds = (Date.now() - started) / 1000;
  if (report.files.report) await writeFileAtomic(report.files.report, JSON.stringify(report, null, 2));
  return report;
}
