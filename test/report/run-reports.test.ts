/**
 * Every mode writes the one report schema: `graft train` (frozen head, --fine-tune, from scratch) and
 * `graft eval`, run for real as child processes on a tiny split-folder dataset (train/validation/test, 40 photos
 * and one broken file). Then report.html opens in Debian's Chromium from file:// with no network request and no
 * console error, showing the accuracy, the curves and the confusion matrix.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { graft } from '../helpers/cli.js';
import { catsDogs } from '../helpers/paths.js';
import { REPORT_SCHEMA_VERSION, type RunReport, type SplitMetrics } from '../../src/report/schema.js';
import { openOffline } from './offline-page.js';
import { readModel } from '../../src/onnx/codec.js';
import { FINE_TUNE_DEFAULTS } from '../../src/train/finetune/finetune.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-reports-'));
const shots = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-report-shot-'));
const data = path.join(work, 'pets');
const env = { GRAFT_CACHE: path.join(work, 'cache'), GRAFT_THREADS: '2' };
const PER_CLASS = { train: 12, validation: 4, test: 4 };

/** The keys the README's "report.json" section documents for every report. */
const EVERY_REPORT = ['schemaVersion', 'mode', 'command', 'classes', 'dataset', 'selected', 'history', 'skipped', 'timing', 'files'];
const SPLIT_KEYS = ['n', 'accuracy', 'top3', 'loss', 'perClass', 'confusion', 'mostConfused', 'topLosses'];
const TOP_LOSS_KEYS = ['path', 'actual', 'predicted', 'probability', 'actualProbability', 'loss'];

before(() => {
  let n = 0;
  for (const [split, count] of Object.entries(PER_CLASS)) {
    for (const cls of ['cats', 'dogs']) {
      fs.mkdirSync(path.join(data, split, cls), { recursive: true });
      for (let i = 0; i < count; i++, n++) {
        const name = `${cls.slice(0, 3)}.${200 + n}.jpg`;
        fs.copyFileSync(path.join(catsDogs, 'train', cls, name), path.join(data, split, cls, name));
      }
    }
  }
  // A file that cannot be decoded: it must be listed in `skipped` with a reason, and counted nowhere else.
  fs.writeFileSync(path.join(data, 'train', 'cats', 'truncated.jpg'), fs.readFileSync(path.join(catsDogs, 'train', 'cats', 'cat.1.jpg')).subarray(0, 1500));
});

after(() => fs.rmSync(work, { recursive: true, force: true }));

function run(args: string[]): { report: RunReport; stdout: string; out: string } {
  const out = args[args.indexOf('-o') + 1];
  const r = graft(args, env);
  assert.equal(r.code, 0, `graft ${args.join(' ')}\n${r.stderr}\n${r.stdout}`);
  return { report: JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as RunReport, stdout: r.stdout, out };
}

/**
 * Every mode exports one input contract — `pixels`, RGB 0–255 NHWC, normalisation inside — and `graft eval` of the
 * file reproduces the run's own test numbers.
 */
function checkExportedModel(out: string, report: RunReport): void {
  const model = readModel(path.join(out, 'model.onnx'));
  const [input] = model.graph.inputs;
  assert.equal(input.name, 'pixels');
  assert.equal(input.shape?.[3], 3, `NHWC input: ${JSON.stringify(input.shape)}`);
  const evalOut = `${out}-eval`;
  const evaluated = run(['eval', path.join(out, 'model.onnx'), data, '-o', evalOut]).report;
  assert.equal(evaluated.test!.accuracy, report.test!.accuracy, 'eval of the exported file agrees with the training report');
  assert.ok(Math.abs(evaluated.test!.loss - report.test!.loss) < 1e-4, `loss ${evaluated.test!.loss} vs ${report.test!.loss}`);
}

function checkSplit(m: SplitMetrics | undefined, n: number, what: string): void {
  assert.ok(m, `${what} is missing`);
  for (const k of SPLIT_KEYS) assert.ok(k in m, `${what}.${k}`);
  assert.equal(m.n, n, `${what}.n`);
  assert.ok(m.accuracy >= 0 && m.accuracy <= 1 && m.top3 === 1, `${what}: accuracy ${m.accuracy}, top-3 of 2 classes ${m.top3}`);
  assert.ok(Number.isFinite(m.loss) && m.loss > 0, `${what}.loss ${m.loss}`);
  assert.equal(m.confusion.flat().reduce((a, v) => a + v, 0), n, `${what}: the confusion matrix counts every image once`);
  assert.equal(m.topLosses.length, Math.min(n, 16));
  for (const t of m.topLosses) for (const k of TOP_LOSS_KEYS) assert.ok(k in t, `${what}.topLosses[].${k}`);
  for (let i = 1; i < m.topLosses.length; i++) assert.ok(m.topLosses[i - 1].loss >= m.topLosses[i].loss, 'top losses are sorted, largest first');
  const t = m.topLosses[0];
  assert.ok(Math.abs(t.loss + Math.log(t.actualProbability)) < 1e-9, 'loss = −log p(actual)');
  assert.ok(fs.existsSync(t.path));
}

function checkCommon(report: RunReport, mode: RunReport['mode'], out: string, args: string[]): void {
  for (const k of EVERY_REPORT) assert.ok(k in report, `${mode}: ${k}`);
  assert.equal(report.schemaVersion, REPORT_SCHEMA_VERSION);
  assert.equal(report.mode, mode);
  assert.deepEqual(report.command, ['graft', ...args], 'the command line that reproduces the run');
  assert.deepEqual(report.classes, ['cats', 'dogs']);
  assert.equal(report.dataset.counts.test, 2 * PER_CLASS.test);
  assert.ok(report.timing.totalSeconds > 0);
  assert.equal(report.files.report, path.join(out, 'report.json'));
  assert.equal(report.files.html, path.join(out, 'report.html'));
  assert.ok(fs.existsSync(report.files.html!));
  const html = fs.readFileSync(report.files.html!, 'utf8');
  assert.doesNotMatch(html, /\b(src|href)=["']?(https?:)?\/\//i, 'report.html references nothing outside itself');
}

const outOf = (name: string) => path.join(work, name);
let frozenRun: { report: RunReport; out: string } | undefined;

test('graft train (frozen head): val and test, top losses, skipped file with its reason, non-negative feature counts', async () => {
  const args = ['train', data, '-o', outOf('frozen')];
  const { report, stdout, out } = run(args);
  checkCommon(report, 'frozen', out, args);
  checkSplit(report.val, 2 * PER_CLASS.validation, 'val');
  checkSplit(report.test, 2 * PER_CLASS.test, 'test');
  assert.equal(report.frozen, undefined);
  // The default head is one full-batch solve: no epochs, its weight decay chosen by cross-validation, whose curve
  // is the run's curves.png.
  assert.equal(report.history.length, 0);
  assert.equal(report.selected.epochs, undefined);
  const search = report.selected.search as { cvFolds: number; cvScores: unknown[]; weightDecay: number };
  assert.ok(search.cvFolds >= 2 && search.cvScores.length > 1 && search.weightDecay > 0, JSON.stringify(search));
  assert.deepEqual(report.selected.backbones.map((b) => [b.id, b.tap]), [['mobilenet_v1_0.75', 'features']]);
  assert.equal(report.selected.head?.kind, 'linear');
  assert.deepEqual(report.skipped.map((s) => path.basename(s.path)), ['truncated.jpg']);
  assert.ok(report.skipped[0].reason.length > 0);
  const images = 2 * (PER_CLASS.train + PER_CLASS.validation + PER_CLASS.test);
  // With fewer than 100 images per class the linear head also trains on mirror images ('auto' augmentation),
  // so each readable image is extracted twice: as it is and mirrored.
  assert.equal(report.selected.regularisation?.augment, 'flip');
  assert.equal((report.selected.search as { augment?: string } | undefined)?.augment, 'flip', 'search says the head fit used mirror rows');
  assert.match(stdout, /refit on \d+ images \+ mirror images/);
  assert.equal(report.timing.extractedImages, 2 * images, 'every readable image extracted once, and once mirrored');
  assert.equal(report.timing.cachedImages, 0, 'nothing cached on the first run, and never a negative count');
  for (const f of ['model.onnx', 'curves.png', 'confusion.png', 'top-losses.png']) assert.ok(fs.existsSync(path.join(out, f)), f);
  const grid = await sharp(path.join(out, 'top-losses.png')).metadata();
  // The shown split is test (8 images): 4 columns × 2 rows of 160 px tiles with captions.
  assert.ok(grid.width! >= 4 * 160 && grid.width! < 5 * 160 && grid.height! >= 2 * 160 && grid.height! < 3 * 160, `top-losses.png ${grid.width}×${grid.height}`);
  assert.match(stdout, /test:\s+accuracy/);

  // Second run: everything from the feature cache, the broken file still skipped and counted nowhere else.
  const again = run(['train', data, '--no-plots', '-o', outOf('frozen-again')]).report;
  assert.equal(again.timing.extractedImages, 0);
  assert.equal(again.timing.cachedImages, 2 * images);
  assert.equal(again.skipped.length, 1);
  assert.ok(!fs.existsSync(path.join(outOf('frozen-again'), 'curves.png')) && fs.existsSync(path.join(outOf('frozen-again'), 'report.html')), '--no-plots keeps report.html');
  frozenRun = { report, out };
});

test('graft train --fine-tune (1 short epoch): val of the fine-tuned model, test of graft train\'s head re-fitted on it; frozen.val of its start head, frozen.test of the same head on the frozen backbone', () => {
  const args = ['train', data, '--fine-tune', '--epochs', '1', '--batch', '8', '-o', outOf('fine-tune')];
  const { report, out } = run(args);
  checkCommon(report, 'fine-tune', out, args);
  checkSplit(report.val, 2 * PER_CLASS.validation, 'val');
  checkSplit(report.test, 2 * PER_CLASS.test, 'test');
  checkSplit(report.frozen?.val, 2 * PER_CLASS.validation, 'frozen.val');
  checkSplit(report.frozen?.test, 2 * PER_CLASS.test, 'frozen.test');
  assert.equal(report.history.length, 1);
  // Epoch 0 is the start (graft train's head on the frozen backbone), kept unless the epoch beats it on validation.
  assert.ok([0, 1].includes(report.selected.epochs!.best!), `best epoch ${report.selected.epochs?.best}`);
  assert.ok(report.selected.fineTune && JSON.stringify(report.selected.fineTune.unfreeze) === JSON.stringify(FINE_TUNE_DEFAULTS.unfreeze) && report.selected.fineTune.blocks.includes('stem'), JSON.stringify(report.selected.fineTune));
  assert.ok(!('fineTuned' in report) && !('scratch' in report), 'no second schema');
  for (const dir of ['frozen', 'baseline', 'head']) assert.ok(fs.existsSync(path.join(out, dir, 'report.json')), dir);
  const read = (dir: string) => JSON.parse(fs.readFileSync(path.join(out, dir, 'report.json'), 'utf8')) as RunReport;
  assert.deepEqual(report.test, read('head').test);
  assert.deepEqual(report.frozen?.test, read('baseline').test);
  checkExportedModel(out, report);
});

test('graft train from scratch (1 short epoch): val and test', () => {
  const args = ['train', data, '--model', 'scratch-cnn', '--input-size', '64', '--epochs', '1', '--batch', '8', '-o', outOf('scratch')];
  const { report, out } = run(args);
  checkCommon(report, 'scratch', out, args);
  checkSplit(report.val, 2 * PER_CLASS.validation, 'val');
  checkSplit(report.test, 2 * PER_CLASS.test, 'test');
  assert.equal(report.frozen, undefined);
  assert.equal(report.selected.architecture, 'scratch_cnn');
  assert.ok(report.selected.trainedParameters! > 0);
  checkExportedModel(out, report);
});

test('graft eval: the same schema, the scored split under its own key', () => {
  assert.ok(frozenRun, 'the frozen run comes first');
  const args = ['eval', path.join(frozenRun.out, 'model.onnx'), data, '-o', outOf('eval')];
  const { report, out } = run(args);
  checkCommon(report, 'eval', out, args);
  checkSplit(report.test, 2 * PER_CLASS.test, 'test');
  assert.equal(report.val, undefined);
  assert.equal(report.test!.accuracy, frozenRun.report.test!.accuracy, 'eval of the exported file agrees with the training report');
  assert.ok(Math.abs(report.test!.loss - frozenRun.report.test!.loss) < 1e-4, `loss ${report.test!.loss} vs ${frozenRun.report.test!.loss}`);
});

test('report.html opens offline in Chromium: no network request, no console error; accuracy, curves and confusion matrix shown', async () => {
  assert.ok(frozenRun, 'the frozen run comes first');
  const { browser, page, network, errors } = await openOffline(path.join(frozenRun.out, 'report.html'));
  try {
    const testCard = page.locator('.card[data-split="test"] .accuracy');
    assert.equal((await testCard.textContent())?.trim(), `${(frozenRun.report.test!.accuracy * 100).toFixed(2)}%`);
    for (const id of ['curves', 'confusion']) {
      const size = await page.locator(`img#${id}`).evaluate((el) => {
        const img = el as unknown as { complete: boolean; naturalWidth: number; naturalHeight: number };
        return [img.complete, img.naturalWidth, img.naturalHeight];
      });
      assert.ok(size[0] && Number(size[1]) > 200 && Number(size[2]) > 100, `${id}: ${size}`);
    }
    assert.equal(await page.locator('#top-losses figure img').count(), 2 * PER_CLASS.test);
    assert.equal(await page.locator('#skipped li').count(), 1);
    const shot = path.join(shots, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`report.html screenshot: ${shot}`);
    assert.deepEqual(network, [], 'no request leaves the file');
    assert.deepEqual(errors, [], 'no console error');
  } finally {
    await browser.close();
  }
});
