/** Using an exported graft classifier (model.onnx) on its own: predict files, evaluate a dataset. */
import { loadPath, type GraftModel } from '../models/load.js';
import { openDataset } from '../data/dataset.js';
import { GraftError } from '../util/errors.js';
import type { ProgressSink } from '../util/progress.js';
import { classify, type Classification } from './classify.js';
import { modelSession, runImages } from '../runtime/runner.js';
import { splitMetrics } from '../report/split.js';
import { REPORT_SCHEMA_VERSION, type RunReport } from '../report/schema.js';
import { writeRunReport } from '../report/write.js';
import { withTta, type TtaMode } from './tta.js';

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

/** report.json of `graft eval`: the one schema of every run (report/schema.ts), mode 'eval'. */
export type EvalReport = RunReport;

export interface EvaluateOptions {
  split?: 'test' | 'validation' | 'train';
  /** Test-time augmentation: 'flip' averages each image with its mirror image. */
  tta?: TtaMode;
  progress?: ProgressSink;
  target?: 'breed' | 'species';
  /** Write report.json and report.html (and, unless plots is false, confusion.png and top-losses.png) here. */
  out?: string;
  plots?: boolean;
  /** The argv that reproduces the evaluation, recorded in the report (the CLI passes its own). */
  command?: string[];
}

const REPORT_KEY = { test: 'test', validation: 'val', train: 'train' } as const;

/**
 * Evaluates an exported classifier on a dataset's test split (else validation). Dataset classes are matched
 * to the model's labels by name.
 */
export async function evaluateFile(file: string, datasetRoot: string, opts: EvaluateOptions = {}): Promise<EvalReport> {
  const started = Date.now();
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
  const paths: string[] = [];
  const probs: number[] = [];
  const skipped = [...ds.skipped];
  const { session, outputs } = await modelSession(m);
  try {
    for await (const rows of runImages(m, session, outputs, files, { batchSize: 32, progress: opts.progress, onFailure: (f) => skipped.push({ path: f.path, reason: f.reason }) })) {
      const data = rows.outputs[m.outputName].data;
      rows.indices.forEach((i, r) => {
        labels.push(toModel[samples[i].label]);
        paths.push(samples[i].path);
        for (let c = 0; c < k; c++) probs.push(data[r * k + c]);
      });
    }
  } finally {
    await session.release();
  }
  const counts: Record<string, number> = {};
  for (const s of ds.samples) counts[s.split] = (counts[s.split] ?? 0) + 1;
  const backbone = JSON.parse(m.model.metadata['graft.backbone'] ?? 'null') as { id?: string; tap?: string } | null;
  const report: EvalReport = {
    schemaVersion: REPORT_SCHEMA_VERSION,
    mode: 'eval',
    command: opts.command ?? null,
    classes: m.labels,
    dataset: { root: ds.root, layout: ds.layout, counts, notes: ds.notes },
    selected: { backbones: backbone?.id ? [{ id: backbone.id, tap: backbone.tap ?? 'features' }] : [], model: file, split },
    [REPORT_KEY[split]]: splitMetrics({ scores: probs, kind: 'probabilities', labels, classes: m.labels, paths }),
    history: [],
    skipped,
    timing: { totalSeconds: 0, evalSeconds: (Date.now() - started) / 1000 },
    files: {},
  };
  if (opts.out) await writeRunReport(report, opts.out, { plots: opts.plots, startedAt: started });
  else report.timing.totalSeconds = (Date.now() - started) / 1000;
  return report;
}
