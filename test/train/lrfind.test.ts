import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lrFind, suggest } from '../../src/train/lrfind.js';
import { createHead } from '../../src/train/heads.js';
import { plotLrFind } from '../../src/report/plots.js';
import { Rng } from '../../src/util/rng.js';

test('the range test sweeps lr exponentially, stops when the loss explodes, and suggests a rate where it was falling', async () => {
  const rng = new Rng(3);
  const n = 120;
  const dim = 10;
  const x = new Float32Array(n * dim);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 3;
    for (let d = 0; d < dim; d++) x[i * dim + d] = (d === y[i] ? 2 : 0) + rng.normal();
  }
  const head = createHead({ kind: 'linear', inputDim: dim, nClasses: 3, hidden: [], dropout: 0 }, 1);
  const r = lrFind(head, { x, y, n, dim }, { steps: 80, batchSize: 32, optimizer: 'sgd', startLr: 1e-5, endLr: 1e4 });
  for (let i = 1; i < r.points.length; i++) assert.ok(r.points[i].lr > r.points[i - 1].lr);
  assert.ok(r.stoppedEarly, 'an lr of 1e4 with plain SGD must make the loss explode');
  const at = r.points.findIndex((p) => p.lr === r.suggested);
  assert.ok(at > 0 && r.points[at + 1].smoothed < r.points[at - 1].smoothed, 'the smoothed loss falls at the suggestion');
  assert.ok(r.suggested < r.minimum, `suggested ${r.suggested} before the minimum ${r.minimum}`);
  const png = await plotLrFind(r.points, r.suggested);
  assert.deepEqual([...png.subarray(1, 4)], [...Buffer.from('PNG')]);
});

test('suggest picks the steepest fall of a known curve', () => {
  // loss = 2 − tanh(log10(lr) + 3): steepest at lr = 1e-3, minimum at the end of the falling part.
  const points = Array.from({ length: 61 }, (_, i) => {
    const lr = 10 ** (-6 + i / 10);
    const loss = 2 - Math.tanh(Math.log10(lr) + 3) + (lr > 1 ? lr : 0);
    return { lr, loss, smoothed: loss };
  });
  const s = suggest(points);
  assert.ok(Math.abs(Math.log10(s.suggested) + 3) < 0.11, `suggested ${s.suggested}`);
});
