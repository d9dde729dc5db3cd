/** Using an exported graft classifier (model.onnx) on its own: predict files, evaluate a dataset. */
import { loadPath, type GraftModel } from '../models/load.js';
import { openDataset } from '../data/dataset.js';
import { GraftError } from '../util/errors.js';
import type { ProgressSink } from '../util/progress.js';
import { classify, type Classification } from './classify.js';
import { modelSession, runImages } from './runner.js';
import { withTta, type TtaMode } from './tta.js';
import { argmaxRows, classMetrics, confusionMatrix, mostConfused, topKAccuracy, type ClassMetrics } from '../train/metrics.js';

/** Loads a classifier exported by `graft train` (labels and preprocessing come from its metadata). */
export async function loadClassifier(file: string): Promise<GraftModel> {
  const m = await loadPath(file);
  if (!m.model.metadata['graft.labels']) {
    throw new GraftError('MODEL_FORMAT', `${file} has no graft metadata (graft.labels); export it with \`graft train … --out DIR\``);
  }
  return m;
}

export async function predictFiles(file: string, images: string[], opts: { top?: number; tta?: TtaMode; progress?: ProgressSink } = {}): Promise<Classification[]> {
  return classify(withTta(await loadClassifier(file), opts.tta ?? 'none'), images, opts);
}

export interface EvalReport {
  model: string;
  dataset: string;
  split: string;
  /** The model's labels (rows/columns of the confusion matrix). */
  classes: string[];
  n: number;
  accuracy: number;
  top3: number;
  loss: number;
  perClass: ClassMetrics;
  confusion: number[][];
  mostConfused: [string, string, number][];
  skipped: { path: string; reason: string }[];
}

/**
 * Evaluates an exported classifier on a dataset's test split (else validation). Dataset classes are matched
 * to the model's labels by name.
 */
export async function evaluateFile(file: string, datasetRoot: string, opts: { split?: 'test' | 'validation' | 'train'; tta?: TtaMode; progress?: ProgressSink; target?: 'breed' | 'species' } = {}): Promise<EvalReport> {
  const m = withTta(await loadClassifier(file), opts.tta ?? 'none');
  const ds = await openDataset(datasetRoot, { target: opts.target });
  const split = opts.split ?? (ds.samples.some((s) => s.split === 'test') ? 'test' : 'validation');
  const toModel = ds.classes.map((c) => m.labels.indexOf(c));
  const missing = ds.classes.filter((_, i) => toModel[i] < 0);
  if (missing.length) throw new GraftError('UNKNOWN_CLASS', `dataset classes not known to the model: ${missing.join(', ')} (model labels: ${m.labels.join(', ')})`);
  const samples = ds.samples.filter((s) => s.split === split);
  const files = samples.map((s) => s.path);
  const k = m.labels.length;
  const labels: number[] = [];
  const probs: number[] = [];
  const skipped = [...ds.skipped];
  const { session, outputs } = await modelSession(m);
  try {
    for await (const rows of runImages(m, session, outputs, files, { batchSize: 32, progress: opts.progress, onFailure: (f) => skipped.push({ path: f.path, reason: f.reason }) })) {
      const data = rows.outputs[m.outputName].data;
      rows.indices.forEach((i, r) => {
        labels.push(toModel[samples[i].label]);
        for (let c = 0; c < k; c++) probs.push(data[r * k + c]);
      });
    }
  } finally {
    await session.release();
  }
  const p = Float32Array.from(probs);
  const pred = argmaxRows(p, k);
  const confusion = confusionMatrix(labels, pred, k);
  let loss = 0;
  labels.forEach((y, r) => { loss -= Math.log(Math.max(p[r * k + y], 1e-12)); });
  return {
    model: file, dataset: ds.root, split, classes: m.labels, n: labels.length,
    accuracy: labels.length ? labels.filter((y, r) => pred[r] === y).length / labels.length : NaN,
    top3: topKAccuracy(p, labels, k, Math.min(3, k)),
    loss: labels.length ? loss / labels.length : NaN,
    perClass: classMetrics(confusion),
    confusion,
    mostConfused: mostConfused(confusion, m.labels, 1).slice(0, 10),
    skipped,
  };
}
