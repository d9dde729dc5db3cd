import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { EpochRow } from '../../src/report/history.js';
import { plotConfusion, plotCurves } from '../../src/report/plots.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-plots-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function pngSize(file: string): Promise<{ width: number; height: number }> {
  const meta = await sharp(file).metadata();
  assert.equal(meta.format, 'png');
  return { width: meta.width!, height: meta.height! };
}

test('plotCurves writes a two-panel PNG (wider than tall) and returns the same bytes', async () => {
  const history: EpochRow[] = Array.from({ length: 12 }, (_, e) => ({
    epoch: e + 1,
    trainLoss: 1 / (e + 1),
    trainAcc: 1 - 0.5 / (e + 1),
    valLoss: 1.2 / (e + 1) + 0.01 * e,
    valAcc: 0.9 - 0.3 / (e + 1),
    lr: 1e-3,
    seconds: 0.1,
  }));
  const file = path.join(tmp, 'curves.png');
  const png = await plotCurves(history, file);
  assert.deepEqual(fs.readFileSync(file), png);
  const { width, height } = await pngSize(file);
  // Two 380×260 panels side by side plus axes and legend, rendered at 2×.
  assert.ok(width > 1500 && width < 2600, `width ${width}`);
  assert.ok(height > 520 && height < 900, `height ${height}`);
  assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.includes('.tmp-')), [], 'no temp files left behind');
});

test('plotConfusion scales with the number of classes, counts or normalised', async () => {
  const small = path.join(tmp, 'confusion2.png');
  await plotConfusion([[50, 3], [7, 40]], ['cat', 'dog'], small);
  const s = await pngSize(small);
  assert.ok(s.width > 300 && s.width < 1000 && s.height > 300 && s.height < 1000, `${s.width}×${s.height}`);

  const k = 37;
  const classes = Array.from({ length: k }, (_, i) => `breed_number_${i}`);
  const confusion = classes.map((_, a) => classes.map((_, p) => (a === p ? 20 : (a * 7 + p) % 11 === 0 ? 2 : 0)));
  const big = path.join(tmp, 'confusion37.png');
  await plotConfusion(confusion, classes, big);
  const b = await pngSize(big);
  // 37 cells of 22 px plus labels, at 2×: roughly 1600 to 2600 px per side.
  assert.ok(b.width > 1600 && b.width < 2600 && b.height > 1600 && b.height < 2600, `${b.width}×${b.height}`);
  const normalised = await plotConfusion(confusion, classes, undefined, { normalise: true });
  const n = await sharp(normalised).metadata();
  assert.ok(n.width! >= b.width, 'normalised cells are wider to fit fractions');
});

test('plotConfusion rejects a matrix that does not match the class names', async () => {
  await assert.rejects(plotConfusion([[1, 2]], ['a', 'b']), /not 2×2/);
});
