/**
 * report.json: ONE schema for every run — frozen-feature training, fine-tuning, training from scratch and
 * `graft eval`. The README section "report.json" documents it; bump REPORT_SCHEMA_VERSION on any change a
 * reader would notice (a renamed or removed key, a changed meaning).
 */
import type { ClassMetrics } from './metrics.js';

export const REPORT_SCHEMA_VERSION = 1;

/** How the model of the run came to be. */
export type RunMode = 'frozen' | 'fine-tune' | 'scratch' | 'eval';

/** One row of the training history (frozen head, fine-tuning and from-scratch loops write the same rows). */
import type { EpochRow } from './history.js';
export type { EpochRow };

/** One of the images the model got most wrong (fastai's plot_top_losses). */
export interface TopLoss {
  path: string;
  /** True class name. */
  actual: string;
  /** Predicted class name (argmax). */
  predicted: string;
  /** Probability the model gave its prediction. */
  probability: number;
  /** Probability the model gave the true class. */
  actualProbability: number;
  /** Cross-entropy −log p(true class). */
  loss: number;
}

/** Metrics of one split (validation, test, …). */
export interface SplitMetrics {
  /** Images scored (unreadable ones are in `skipped`). */
  n: number;
  accuracy: number;
  top3: number;
  /** Mean cross-entropy (natural log). */
  loss: number;
  perClass: ClassMetrics;
  /** confusion[actual][predicted] = count; rows and columns follow `classes`. */
  confusion: number[][];
  /** Off-diagonal (actual, predicted, count), largest first (at most 10). */
  mostConfused: [string, string, number][];
  /** Highest-loss images, largest first (at most 16). */
  topLosses: TopLoss[];
}

export interface DatasetSummary {
  root: string;
  /** openDataset's layout name (split folders, class folders, Oxford-IIIT Pet, …). */
  layout: string;
  /** Readable-or-not images per split, as the dataset listed them. */
  counts: Partial<Record<'train' | 'validation' | 'test', number>>;
  notes: string[];
}

/** A backbone that fed the classifier. */
export interface BackboneUsed {
  id: string;
  tap: string;
  pooling?: string;
  featureDim?: number;
}

/** What was selected or used to make the model. Fields a mode does not have are absent. */
export interface Selected {
  backbones: BackboneUsed[];
  /** Builder name when training from scratch. */
  architecture?: string;
  inputSize?: number;
  head?: { kind: string; hidden: number[]; dropout?: number; standardize?: boolean };
  regularisation?: { weightDecay?: number; labelSmoothing?: number; dropout?: number; augment?: unknown };
  optimizer?: { kind: string; lr?: number; schedule: string; batchSize?: number };
  /** Epochs run, the best one (selected on validation) and, with --refit, the epochs of the refit. */
  epochs?: { run: number; best: number; refit?: number };
  /** Set when the final head was retrained on train ∪ validation after selection. */
  /** Images of the refit; epochs only for heads trained in epochs (a one-solve head has none). */
  refit?: { epochs?: number; images: number };
  /** Fine-tuning: the unfrozen blocks, how many layers and parameters trained, the backbone's lr multiplier, the head stage's epochs. */
  fineTune?: { blocks: string[]; layers: number; parameters: number; backboneLrMult: number; unfreeze?: unknown; headEpochs?: number };
  /** `graft eval`: the classifier file and the split it was scored on. */
  model?: string;
  split?: string;
  /** From scratch: how many parameters trained (all of them). */
  trainedParameters?: number;
  /** Hyper-parameter search (cross-validation) results, filled by the head selection when it runs. */
  search?: Record<string, unknown>;
  /** Test-time augmentation in the reported numbers (and baked into model.onnx): 'none' | 'flip'. */
  tta?: string;
  seed?: number;
}

export interface Timing {
  totalSeconds: number;
  extractSeconds?: number;
  extractedImages?: number;
  cachedImages?: number;
  imagesPerSecond?: number;
  /** Head on frozen features (frozen mode, and the head stage of fine-tuning). */
  headSeconds?: number;
  /** End-to-end loop (fine-tune, scratch). */
  trainSeconds?: number;
  setupSeconds?: number;
  stepMs?: number;
  evalSeconds?: number;
}

export interface ReportFiles {
  model?: string;
  report?: string;
  html?: string;
  curves?: string;
  confusion?: string;
  topLosses?: string;
  checkpoint?: string;
  /** Fine-tuning: the frozen-head stage's own outputs. */
  frozen?: string;
  /** Fine-tuning with a test split: report.json of graft train's default head on the frozen backbone (`frozen.test`). */
  baseline?: string;
  /** Fine-tuning with a test split: report.json of that same head re-fitted on the fine-tuned backbone (the exported head, `test`). */
  head?: string;
}

/** The report.json of every run. */
export interface RunReport {
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  mode: RunMode;
  /** argv that reproduces the run (`graft …`), or null when the run came from the library without one. */
  command: string[] | null;
  /** Class names: rows/columns of every confusion matrix. */
  classes: string[];
  dataset: DatasetSummary;
  selected: Selected;
  /** Metrics on the validation split (the one model selection looked at); absent when there is none. */
  val?: SplitMetrics;
  /** Metrics on the test split: present whenever the dataset has one. Never used for selection. */
  test?: SplitMetrics;
  /** `graft eval --split train` only. */
  train?: SplitMetrics;
  /** Fine-tuning: the head on frozen features it started from, on the same splits. */
  frozen?: { val?: SplitMetrics; test?: SplitMetrics };
  history: EpochRow[];
  skipped: { path: string; reason: string }[];
  timing: Timing;
  files: ReportFiles;
  /** A fine-tune/scratch run stopped by a signal (only a checkpoint was written). */
  interrupted?: boolean;
}

/** The split whose metrics a summary (confusion plot, top losses) shows: test when there is one, else validation. */
export function shownSplit(report: Pick<RunReport, 'val' | 'test' | 'train'>): { name: 'test' | 'validation' | 'train'; metrics: SplitMetrics } | undefined {
  if (report.test) return { name: 'test', metrics: report.test };
  if (report.val) return { name: 'validation', metrics: report.val };
  if (report.train) return { name: 'train', metrics: report.train };
  return undefined;
}
