/** Classification metrics over logits/predictions and labels: shared by training reports and `graft eval`. */
import { GraftError } from '../util/errors.js';

/** Row-major scores [n, nClasses] (logits or probabilities). */
export type FloatArray = ArrayLike<number>;

/** Checks that every label is an integer in [0, nClasses). */
export function checkLabels(labels: ArrayLike<number>, n: number, nClasses: number, what = 'labels'): void {
  if (labels.length < n) {
    throw new GraftError('SHAPE', `${what}: ${labels.length} labels for ${n} samples`);
  }
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= nClasses) {
      throw new GraftError('BAD_ARGUMENT', `${what}[${i}] = ${y} is not a class index in [0, ${nClasses})`);
    }
  }
}

// Kept exported from here for the report code that imports it with the metrics; the row maths live in math/rows.
export { argmaxRows } from '../math/rows.js';

/** Fraction of predictions equal to the labels. */
export function accuracy(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (predictions.length !== labels.length) {
    throw new GraftError('SHAPE', `accuracy: ${predictions.length} predictions for ${labels.length} labels`);
  }
  let hits = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) hits++;
  return labels.length ? hits / labels.length : 0;
}

/** Fraction of rows whose label is among the k largest logits (ties counted against the label, so the score never flatters). */
export function topKAccuracy(logits: FloatArray, labels: ArrayLike<number>, nClasses: number, k: number): number {
  const n = labels.length;
  if (logits.length !== n * nClasses) throw new GraftError('SHAPE', `topKAccuracy: ${logits.length} logits for ${n}×${nClasses}`);
  checkLabels(labels, n, nClasses);
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const target = logits[i * nClasses + labels[i]];
    let above = 0;
    for (let c = 0; c < nClasses; c++) if (c !== labels[i] && logits[i * nClasses + c] >= target) above++;
    if (above < k) hits++;
  }
  return n ? hits / n : 0;
}

/** confusion[actual][predicted] = count. */
export function confusionMatrix(labels: ArrayLike<number>, predictions: ArrayLike<number>, nClasses: number): number[][] {
  if (predictions.length !== labels.length) {
    throw new GraftError('SHAPE', `confusionMatrix: ${predictions.length} predictions for ${labels.length} labels`);
  }
  checkLabels(labels, labels.length, nClasses);
  checkLabels(predictions, predictions.length, nClasses, 'predictions');
  const m = Array.from({ length: nClasses }, () => new Array<number>(nClasses).fill(0));
  for (let i = 0; i < labels.length; i++) m[labels[i]][predictions[i]]++;
  return m;
}

export interface ClassMetrics {
  precision: number[];
  recall: number[];
  f1: number[];
  support: number[];
  accuracy: number;
  macro: { precision: number; recall: number; f1: number };
  /** Averages weighted by support, as sklearn's 'weighted avg'. */
  weighted: { precision: number; recall: number; f1: number };
}

/** Per-class precision/recall/F1 from a confusion matrix; 0/0 counts as 0 (sklearn's zero_division=0). */
export function classMetrics(confusion: number[][]): ClassMetrics {
  const k = confusion.length;
  const ratio = (a: number, b: number): number => (b > 0 ? a / b : 0);
  const precision: number[] = [];
  const recall: number[] = [];
  const f1: number[] = [];
  const support: number[] = [];
  let total = 0;
  let correct = 0;
  for (let c = 0; c < k; c++) {
    if (confusion[c].length !== k) throw new GraftError('SHAPE', `classMetrics: confusion row ${c} has ${confusion[c].length} entries, expected ${k}`);
    const tp = confusion[c][c];
    let predicted = 0;
    for (let r = 0; r < k; r++) predicted += confusion[r][c];
    const actual = confusion[c].reduce((s, v) => s + v, 0);
    const p = ratio(tp, predicted);
    const r = ratio(tp, actual);
    precision.push(p);
    recall.push(r);
    f1.push(ratio(2 * p * r, p + r));
    support.push(actual);
    total += actual;
    correct += tp;
  }
  const mean = (v: number[]): number => ratio(v.reduce((s, x) => s + x, 0), k);
  const weightedMean = (v: number[]): number => ratio(v.reduce((s, x, c) => s + x * support[c], 0), total);
  return {
    precision,
    recall,
    f1,
    support,
    accuracy: ratio(correct, total),
    macro: { precision: mean(precision), recall: mean(recall), f1: mean(f1) },
    weighted: { precision: weightedMean(precision), recall: weightedMean(recall), f1: weightedMean(f1) },
  };
}

/** fastai's most_confused: off-diagonal (actual, predicted, count) with count ≥ minCount, largest first. */
export function mostConfused(confusion: number[][], classes: string[], minCount = 1): [string, string, number][] {
  if (classes.length !== confusion.length) {
    throw new GraftError('SHAPE', `mostConfused: ${classes.length} class names for a ${confusion.length}-class confusion matrix`);
  }
  const out: [string, string, number][] = [];
  for (let a = 0; a < confusion.length; a++) {
    for (let p = 0; p < confusion.length; p++) {
      if (a !== p && confusion[a][p] >= minCount && confusion[a][p] > 0) out.push([classes[a], classes[p], confusion[a][p]]);
    }
  }
  return out.sort((x, y) => y[2] - x[2]);
}

/** sklearn-style classification report (precision, recall, f1-score, support per class, then accuracy and averages). */
export function formatClassificationReport(confusion: number[][], classes: string[], digits = 4): string {
  if (classes.length !== confusion.length) {
    throw new GraftError('SHAPE', `formatClassificationReport: ${classes.length} class names for a ${confusion.length}-class confusion matrix`);
  }
  const m = classMetrics(confusion);
  const total = m.support.reduce((s, v) => s + v, 0);
  const nameWidth = Math.max(12, ...classes.map((c) => c.length));
  const col = Math.max(9, digits + 2);
  const num = (v: number): string => v.toFixed(digits).padStart(col);
  const int = (v: number): string => String(v).padStart(col);
  const row = (name: string, cells: string[]): string => name.padStart(nameWidth) + ' ' + cells.join(' ');
  const blank = ''.padStart(col);
  const lines = [
    row('', ['precision', 'recall', 'f1-score', 'support'].map((h) => h.padStart(col))),
    '',
    ...classes.map((c, i) => row(c, [num(m.precision[i]), num(m.recall[i]), num(m.f1[i]), int(m.support[i])])),
    '',
    row('accuracy', [blank, blank, num(m.accuracy), int(total)]),
    row('macro avg', [num(m.macro.precision), num(m.macro.recall), num(m.macro.f1), int(total)]),
    row('weighted avg', [num(m.weighted.precision), num(m.weighted.recall), num(m.weighted.f1), int(total)]),
  ];
  return lines.join('\n') + '\n';
}
