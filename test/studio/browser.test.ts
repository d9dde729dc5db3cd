import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { chromium, type Browser, type Page } from 'playwright-core';
import { predictFiles } from '../../src/index.js';
import { startStudio, type Studio } from '../../src/studio/server.js';
import { buildClient, rawRequest } from './helpers.js';
import { catsDogs, sharedModels } from '../helpers/paths.js';

const CHROMIUM = '/usr/bin/chromium';
// Without these Chromium tries to reach Google services on this closed network.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];
const PER_CLASS = 12;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-studio-browser-'));
const workspace = path.join(work, 'ws');
const shots = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-studio-shots-'));
let studio: Studio;
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];
const offMachine: string[] = [];

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)`);
  process.env.GRAFT_MODELS = sharedModels;
  process.env.GRAFT_CACHE = path.join(work, 'cache');
  buildClient();
  studio = await startStudio({ dir: workspace, port: 0 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  page = await browser.newPage({ viewport: { width: 1200, height: 860 } });
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(studio.url) && !url.startsWith('data:') && !url.startsWith('blob:')) offMachine.push(url);
  });
});

after(async () => {
  await browser?.close();
  await studio?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

// The page's CSP forbids eval, so page functions are real functions; these casts give them types without the DOM lib
// (they compile away, leaving `globalThis.document` in the function the page runs).
interface PageElement { textContent: string | null; src: string; complete: boolean; naturalWidth: number }
interface PageDocument { querySelector(s: string): PageElement | null; querySelectorAll(s: string): ArrayLike<PageElement> }
type PageGlobal = { document: PageDocument; graftTry?: { labels: string[]; probabilities: number[] } };

const images = (cls: string, split = 'train') => Array.from({ length: PER_CLASS }, (_, i) => path.join(catsDogs, split, cls, `${cls.slice(0, 3)}.${i}.jpg`));

test('studio in Chromium: create, upload, train, try in the browser (= graft predict), dream, attack; no console errors, nothing off the machine', async (t) => {
  const started = Date.now();
  await page.goto(studio.url);
  await page.waitForSelector('body[data-ready="true"]');

  await page.fill('#new-project input[name=name]', 'Cats and dogs');
  await page.click('#new-project button');
  await page.waitForSelector('body.has-project');
  for (const cls of ['cats', 'dogs']) {
    await page.fill('#add-class input[name=name]', cls);
    await page.click('#add-class button');
    await page.waitForSelector(`input.upload[data-class="${cls}"]`, { state: 'attached' });
    await page.setInputFiles(`input.upload[data-class="${cls}"]`, images(cls));
    await page.waitForFunction(([c, n]) => (globalThis as unknown as PageGlobal).document.querySelector(`.class-card[data-class="${c}"] .count`)?.textContent === `${n} images`, [cls, PER_CLASS] as const, { timeout: 60_000 });
  }
  await page.waitForFunction(() => Array.from((globalThis as unknown as PageGlobal).document.querySelectorAll('.thumbs img')).every((i) => i.complete && i.naturalWidth > 0));
  await page.screenshot({ path: path.join(shots, 'data.png') });

  // Train two backbones (the second one is the attack's transfer model).
  await page.click('nav button[data-tab=train]');
  await page.check('input[name=backbone][value="darknet_tiny"]');
  await page.fill('#train-form input[name=epochs]', '20');
  await page.click('#train-button');
  await page.waitForSelector('#run-accuracy', { timeout: 150_000 });
  const curvePoints = await page.locator('#acc-chart polyline').count();
  assert.ok(curvePoints >= 2, 'the accuracy chart has curves');
  const project = JSON.parse((await rawRequest(studio.url, { path: '/api/projects/cats-and-dogs' })).body) as { runs: { id: string; backbone: string; status: string; accuracy: number }[] };
  assert.deepEqual(project.runs.map((r) => [r.backbone, r.status]), [['mobilenet_v1_0.75', 'done'], ['darknet_tiny', 'done']]);
  const shown = await page.textContent('#run-accuracy');
  const last = project.runs[1];
  assert.equal(shown, `${(last.accuracy * 100).toFixed(1)} %`, 'the page shows the run accuracy');
  assert.ok(last.accuracy >= 0.5, `accuracy ${last.accuracy}`);
  await page.screenshot({ path: path.join(shots, 'train.png') });

  // Try it: the in-browser probabilities equal graft's (onnxruntime-node) on the same file.
  const first = project.runs[0];
  const modelFile = path.join(workspace, 'projects', 'cats-and-dogs', 'runs', first.id, 'model.onnx');
  // First at the network input size, then a full-size JPEG: the page classifies the crop graft itself makes.
  const photo = path.join(work, 'cat-224.png');
  await sharp(path.join(catsDogs, 'validation', 'cats', 'cat.2000.jpg')).resize(224, 224, { fit: 'cover', kernel: 'linear' }).png().toFile(photo);
  await page.click('nav button[data-tab=try]');
  await page.selectOption('#try-run', first.id);
  const tryOnce = async (file: string) => {
    await page.evaluate(() => { (globalThis as unknown as PageGlobal).graftTry = undefined; });
    await page.setInputFiles('#try-file', file);
    await page.waitForFunction(() => (globalThis as unknown as PageGlobal).graftTry !== undefined, undefined, { timeout: 60_000 });
    const inBrowser = (await page.evaluate(() => (globalThis as unknown as PageGlobal).graftTry))!;
    const [native] = await predictFiles(modelFile, [file], { top: inBrowser.labels.length });
    const byLabel = new Map(native.predictions.map((p) => [p.label, p.probability]));
    return Math.max(...inBrowser.labels.map((l, i) => Math.abs(inBrowser.probabilities[i] - byLabel.get(l)!)));
  };
  const diff = await tryOnce(photo);
  assert.ok(diff <= 1e-4, `in-browser vs graft predict: max |Δp| = ${diff}`);
  await page.waitForFunction(() => (globalThis as unknown as PageGlobal).document.querySelector('#try-cam')!.src.startsWith('data:image/png'), undefined, { timeout: 60_000 });
  await page.screenshot({ path: path.join(shots, 'try.png') });
  const jpegDiff = await tryOnce(path.join(catsDogs, 'validation', 'dogs', 'dog.2000.jpg'));
  assert.ok(jpegDiff <= 1e-4, `in-browser vs graft predict on a full-size JPEG: max |Δp| = ${jpegDiff}`);
  t.diagnostic(`in-browser vs graft predict: max |Δp| ${diff.toExponential(2)} at input size; ${jpegDiff.toExponential(2)} on a full-size JPEG`);

  // Explore: feature maps, dream, attack with transfer to the second run.
  await page.click('nav button[data-tab=explore]');
  await page.selectOption('#explore-run', first.id);
  await page.setInputFiles('#explore-file', photo);
  await page.click('#features-go');
  await page.waitForFunction(() => (globalThis as unknown as PageGlobal).document.querySelector('#features-img')!.src.startsWith('data:image/png'), undefined, { timeout: 60_000 });
  await page.selectOption('#dream-class', 'dogs');
  await page.fill('#dream-steps', '12');
  await page.click('#dream-go');
  await page.waitForSelector('#dream-img[data-done="true"]', { timeout: 90_000 });
  await page.selectOption('#attack-target', 'dogs');
  await page.selectOption('#attack-transfer', project.runs[1].id);
  await page.click('#attack-go');
  await page.waitForSelector('#attack-difference', { timeout: 90_000 });
  const sizes = await page.evaluate(() => ['#dream-img', '#attack-original', '#attack-adversarial', '#attack-difference', '#features-img'].map((s) => (globalThis as unknown as PageGlobal).document.querySelector(s)!.naturalWidth));
  for (const w of sizes) assert.ok(w > 0, `images rendered: ${sizes.join(', ')}`);
  const summary = await page.textContent('.attack-summary');
  assert.match(summary ?? '', /Second model:/);
  await page.screenshot({ path: path.join(shots, 'explore.png'), fullPage: true });

  assert.deepEqual(consoleErrors, [], 'no console errors');
  assert.deepEqual(offMachine, [], 'no request left the studio');
  t.diagnostic(`screenshots in ${shots}; ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test('training survives a client that disconnects, can be cancelled, allows one job per project, and everything persists across a restart', async () => {
  const post = (p: string, body: unknown) => rawRequest(studio.url, { method: 'POST', path: p, body: JSON.stringify(body) });
  // Fine-tuning is slow enough to still be running when we cancel it.
  const started = await post('/api/projects/cats-and-dogs/train', { backbones: ['mobilenet_v1_0.75'], fineTune: true, epochs: 5, fineTuneEpochs: 3 });
  assert.equal(started.status, 202);
  const { job } = JSON.parse(started.body) as { job: string };
  assert.equal((await post('/api/projects/cats-and-dogs/train', { backbones: ['darknet_tiny'] })).status, 409, 'a second long job is refused');
  // A client that reads the first event and hangs up.
  await new Promise<void>((resolve, reject) => {
    const u = new URL(studio.url);
    http.get({ host: u.hostname, port: u.port, path: `/api/jobs/${job}/events` }, (res) => {
      res.once('data', () => { res.destroy(); resolve(); });
    }).on('error', reject);
  });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await rawRequest(studio.url, { path: '/api/projects' })).status, 200, 'the server is still answering');
  assert.equal((await post(`/api/jobs/${job}/cancel`, {})).status, 202);
  const events = await rawRequest(studio.url, { path: `/api/jobs/${job}/events` });
  assert.match(events.body, /"type":"cancelled"/);
  const runs = (JSON.parse((await rawRequest(studio.url, { path: '/api/projects/cats-and-dogs' })).body) as { runs: { status: string }[] }).runs;
  assert.equal(runs.at(-1)!.status, 'cancelled');

  const dir = studio.workspace.root;
  await studio.close();
  studio = await startStudio({ dir, port: 0 });
  const again = JSON.parse((await rawRequest(studio.url, { path: '/api/projects/cats-and-dogs' })).body) as { classes: { count: number }[]; runs: { status: string }[] };
  assert.deepEqual(again.classes.map((c) => c.count), [PER_CLASS, PER_CLASS]);
  assert.deepEqual(again.runs.map((r) => r.status), ['done', 'done', 'cancelled']);
});
