import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accuracy,
  argmaxRows,
  classMetrics,
  confusionMatrix,
  formatClassificationReport,
  mostConfused,
  topKAccuracy,
} from '../../src/report/metrics.js';

// 10 samples, 3 classes. Actual: 4× cat, 3× dog, 3× fox.
const classes = ['cat', 'dog', 'fox'];
const actual = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2];
const predicted = [0, 0, 1, 2, 1, 1, 0, 2, 1, 1];
//            predicted cat dog fox
// actual cat           2   1   1
// actual dog           1   2   0
// actual fox           0   2   1
const expectedConfusion = [
  [2, 1, 1],
  [1, 2, 0],
  [0, 2, 1],
];

test('confusion matrix counts (actual, predicted) pairs', () => {
  assert.deepEqual(confusionMatrix(actual, predicted, 3), expectedConfusion);
  assert.equal(accuracy(predicted, actual), 5 / 10);
});

test('per-class precision/recall/F1 and averages from the hand-made confusion', () => {
  const m = classMetrics(expectedConfusion);
  // precision = diagonal / column sum; recall = diagonal / row sum
  assert.deepEqual(m.precision, [2 / 3, 2 / 5, 1 / 2]);
  assert.deepEqual(m.recall, [2 / 4, 2 / 3, 1 / 3]);
  const f1 = [2 / 3, 2 / 5, 1 / 2].map((p, i) => (2 * p * m.recall[i]) / (p + m.recall[i]));
  m.f1.forEach((v, i) => assert.ok(Math.abs(v - f1[i]) < 1e-15));
  assert.deepEqual(m.support, [4, 3, 3]);
  assert.equal(m.accuracy, 0.5);
  assert.ok(Math.abs(m.macro.precision - (2 / 3 + 2 / 5 + 1 / 2) / 3) < 1e-15);
  assert.ok(Math.abs(m.macro.recall - (1 / 2 + 2 / 3 + 1 / 3) / 3) < 1e-15);
  // Weighted recall equals accuracy.
  assert.ok(Math.abs(m.weighted.recall - 0.5) < 1e-15);
  // A class never predicted has precision 0 (zero_division = 0), not NaN.
  const never = classMetrics([[3, 0], [2, 0]]);
  assert.deepEqual(never.precision, [3 / 5, 0]);
  assert.deepEqual(never.f1[1], 0);
});

test('mostConfused lists off-diagonal cells by count, largest first, ties in row order', () => {
  assert.deepEqual(mostConfused(expectedConfusion, classes), [
    ['fox', 'dog', 2],
    ['cat', 'dog', 1],
    ['cat', 'fox', 1],
    ['dog', 'cat', 1],
  ]);
  assert.deepEqual(mostConfused(expectedConfusion, classes, 2), [['fox', 'dog', 2]]);
});

test('argmax and top-k accuracy', () => {
  const logits = Float32Array.from([
    0.1, 0.5, 0.4, // label 2: second best
    3, 1, 2, // label 0: best
    0.2, 0.3, 0.9, // label 0: third
  ]);
  const labels = [2, 0, 0];
  assert.deepEqual(Array.from(argmaxRows(logits, 3)), [1, 0, 2]);
  assert.equal(topKAccuracy(logits, labels, 3, 1), 1 / 3);
  assert.equal(topKAccuracy(logits, labels, 3, 2), 2 / 3);
  assert.equal(topKAccuracy(logits, labels, 3, 3), 1);
});

test('classification report lists every class and the averages in aligned columns', () => {
  const report = formatClassificationReport(expectedConfusion, classes);
  const lines = report.trimEnd().split('\n');
  assert.match(lines[0], /precision\s+recall\s+f1-score\s+support$/);
  const cat = lines.find((l) => l.trim().startsWith('cat'))!;
  assert.deepEqual(cat.trim().split(/\s+/), ['cat', (2 / 3).toFixed(4), '0.5000', (4 / 7).toFixed(4), '4']);
  assert.match(report, /accuracy\s+0\.5000\s+10\n/);
  assert.match(report, /macro avg/);
  assert.match(report, /weighted avg/);
  const widths = new Set(lines.filter((l) => l.length > 0).map((l) => l.length));
  assert.equal(widths.size, 1, 'all non-empty lines have the same width');
});
