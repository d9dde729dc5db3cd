/** The one split-metrics builder, and report.html's escaping, on hand-made numbers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitMetrics } from '../../src/report/split.js';
import { renderReportHtml, shellQuote } from '../../src/report/html.js';
import { REPORT_SCHEMA_VERSION, type RunReport } from '../../src/report/schema.js';

const classes = ['a', 'b', 'c'];
// Rows: right (a), wrong (b → c), right (c), wrong (a → b).
const logits = [2, 0, 0, /**/ 0, 1, 3, /**/ 0, 0, 5, /**/ 0, 4, 1];
const labels = [0, 1, 2, 0];
const paths = ['r0.jpg', 'r1.jpg', 'r2.jpg', 'r3.jpg'];

function softmax(row: number[]): number[] {
  const e = row.map((v) => Math.exp(v));
  const s = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / s);
}

test('splitMetrics: accuracy, top-3, mean cross-entropy, confusion and top losses from logits', () => {
  const m = splitMetrics({ scores: logits, kind: 'logits', labels, classes, paths });
  const probs = [0, 1, 2, 3].map((r) => softmax(logits.slice(r * 3, r * 3 + 3)));
  const losses = labels.map((y, r) => -Math.log(probs[r][y]));
  assert.equal(m.n, 4);
  assert.equal(m.accuracy, 0.5);
  assert.equal(m.top3, 1);
  assert.ok(Math.abs(m.loss - losses.reduce((a, v) => a + v, 0) / 4) < 1e-12);
  assert.deepEqual(m.confusion, [[1, 1, 0], [0, 0, 1], [0, 0, 1]]);
  assert.deepEqual(m.mostConfused, [['a', 'b', 1], ['b', 'c', 1]]);
  // Largest loss first: r3 (a → b, p(a) tiny), then r1, r0, r2.
  assert.deepEqual(m.topLosses.map((t) => t.path), ['r3.jpg', 'r1.jpg', 'r0.jpg', 'r2.jpg']);
  const top = m.topLosses[0];
  assert.equal(top.actual, 'a');
  assert.equal(top.predicted, 'b');
  assert.ok(Math.abs(top.probability - probs[3][1]) < 1e-12 && Math.abs(top.actualProbability - probs[3][0]) < 1e-12);
  assert.ok(Math.abs(top.loss - losses[3]) < 1e-12);
});

test('splitMetrics: probabilities give the same report as their logits; huge logits stay finite; no paths, no top losses', () => {
  const probs = [0, 1, 2, 3].flatMap((r) => softmax(logits.slice(r * 3, r * 3 + 3)));
  const fromLogits = splitMetrics({ scores: logits, kind: 'logits', labels, classes, paths });
  const fromProbs = splitMetrics({ scores: probs, kind: 'probabilities', labels, classes, paths });
  assert.equal(fromProbs.accuracy, fromLogits.accuracy);
  assert.ok(Math.abs(fromProbs.loss - fromLogits.loss) < 1e-12);
  assert.deepEqual(fromProbs.topLosses.map((t) => t.path), fromLogits.topLosses.map((t) => t.path));
  const huge = splitMetrics({ scores: [1000, -1000, 0, 0, 900, 0], kind: 'logits', labels: [1, 1], classes: ['x', 'y', 'z'] });
  assert.ok(Math.abs(huge.loss - 1000) < 1e-9, `loss ${huge.loss}: (2000 + 0) / 2, exact although p(y) underflows to 0`);
  assert.deepEqual(huge.topLosses, []);
  assert.throws(() => splitMetrics({ scores: [1, 2], kind: 'logits', labels: [0], classes }), /2 scores for 1 rows × 3 classes/);
  assert.throws(() => splitMetrics({ scores: [1, 2, 3], kind: 'logits', labels: [3], classes }), /not a class index/);
});

test('report.html escapes every name it shows and references nothing outside itself', () => {
  const evil = '<script>alert(1)</script>';
  const m = splitMetrics({ scores: logits, kind: 'logits', labels, classes: [evil, 'b', 'c'], paths: paths.map((p) => `/x/"${p}`) });
  const report: RunReport = {
    schemaVersion: REPORT_SCHEMA_VERSION, mode: 'eval', command: ['graft', 'eval', 'model.onnx', "my pets's folder"], classes: [evil, 'b', 'c'],
    dataset: { root: '/data/<b>', layout: 'class-folders', counts: { test: 4 }, notes: [evil] }, selected: { backbones: [] }, test: m,
    history: [], skipped: [{ path: `/x/${evil}.jpg`, reason: evil }], timing: { totalSeconds: 1 }, files: {},
  };
  const html = renderReportHtml(report, { thumbnails: [] });
  assert.ok(!html.includes('<script'), 'no markup from data');
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.ok(html.includes('graft eval model.onnx &#39;my pets&#39;\\&#39;&#39;s folder&#39;'), 'the command is shell-quoted, then escaped');
  assert.doesNotMatch(html, /\b(src|href)=["']?(https?:)?\/\//i);
  assert.equal(shellQuote(['graft', 'train', 'a b', 'c']), "graft train 'a b' c");
});
