import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import '../../src/runtime/no-telemetry.js';
import ort from 'onnxruntime-node';
import { chromium, type Browser } from 'playwright-core';
import { trainClassifier } from '../../src/train/frozen-backbone.js';
import { readModel } from '../../src/onnx/codec.js';
import { imageToTensor, type Preprocess } from '../../src/image/preprocess.js';
import { batchDims } from '../../src/image/layout.js';
import { catsDogs, sharedModels } from '../helpers/paths.js';

const CHROMIUM = '/usr/bin/chromium';
// Without these Chromium tries to reach Google services and stalls on this closed network.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PHOTOS = [['cats', 'cat.2000.jpg'], ['dogs', 'dog.2000.jpg'], ['dogs', 'dog.2001.jpg']];

const pageDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'page');
const ortDist = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-web/wasm'));
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-browser-'));
const shots = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-browser-shot-'));
const out = path.join(work, 'out');

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream', '.jpg': 'image/jpeg', '.json': 'application/json', '.bin': 'application/octet-stream' };

let server: http.Server | undefined;
let browser: Browser | undefined;

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: this test drives Debian's Chromium — install it with \`apt-get install chromium\``);
  process.env.GRAFT_MODELS = sharedModels;
  process.env.GRAFT_CACHE = path.join(work, 'cache');
  for (const cls of ['cats', 'dogs']) {
    fs.mkdirSync(path.join(work, 'pets', cls), { recursive: true });
    for (let i = 0; i < 16; i++) {
      const name = `${cls.slice(0, 3)}.${i}.jpg`;
      fs.copyFileSync(path.join(catsDogs, 'train', cls, name), path.join(work, 'pets', cls, name));
    }
  }
});

after(async () => {
  await browser?.close();
  if (server) {
    server.closeAllConnections();
    await new Promise((resolve) => server!.close(resolve));
  }
  fs.rmSync(work, { recursive: true, force: true });
});

/** Serves `routes` (URL path → file or bytes) and any file of onnxruntime-web's dist folder under /ort/. */
async function serve(routes: Map<string, string | Uint8Array>): Promise<string> {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost').pathname;
    const fromOrt = url.startsWith('/ort/') && path.basename(url) === url.slice(5) ? path.join(ortDist, url.slice(5)) : undefined;
    const body = routes.get(url) ?? fromOrt;
    if (body === undefined || (typeof body === 'string' && !fs.existsSync(body))) {
      res.writeHead(404).end(`not found: ${url}`);
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(typeof body === 'string' ? body : url)] ?? 'application/octet-stream' });
    res.end(typeof body === 'string' ? fs.readFileSync(body) : body);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

interface BrowserOutput { name: string; probabilities: number[]; logits: number[] }

const argmax = (v: ArrayLike<number>): number => Array.prototype.indexOf.call(v, Math.max(...Array.from(v)));

test('the exported classifier gives the same probabilities in Chromium (onnxruntime-web, wasm) as in onnxruntime-node', async (t) => {
  const started = Date.now();
  // Two backbones in one file, fed plain RGB pixels: the contract a web page relies on.
  const report = await trainClassifier(path.join(work, 'pets'), { out, model: 'mobilenet_v1_0.75,darknet_tiny', cvFolds: 3, seed: 13 });
  // The default for several backbones on this set: per-backbone heads, stacked (out-of-fold log loss 0.09 vs 0.35).
  assert.equal((report.selected.search as { stacking?: { kept: boolean } }).stacking?.kept, true);
  const file = path.join(out, 'model.onnx');
  const metadata = readModel(file).metadata;
  const pre = JSON.parse(metadata['graft.preprocess']) as Preprocess;
  const labels = JSON.parse(metadata['graft.labels']) as string[];
  const dims = batchDims(1, pre);

  const routes = new Map<string, string | Uint8Array>([
    ['/', path.join(pageDir, 'index.html')],
    ['/main.js', path.join(pageDir, 'main.js')],
    ['/model.onnx', file],
  ]);
  const tensors: Float32Array[] = [];
  const inputs = [];
  for (const [i, [cls, name]] of PHOTOS.entries()) {
    const photo = path.join(catsDogs, 'validation', cls, name);
    const x = await imageToTensor(photo, pre);
    tensors.push(x);
    // The exported model takes 0–255 RGB: the page receives the crop's bytes and feeds them unchanged.
    assert.ok(x.every((v) => Number.isInteger(v) && v >= 0 && v <= 255), 'the metadata preprocessing yields raw pixels');
    routes.set(`/input/${i}.rgb`, Uint8Array.from(x));
    routes.set(`/photo/${i}.jpg`, photo);
    inputs.push({ name, pixels: `input/${i}.rgb`, photo: `photo/${i}.jpg` });
  }
  routes.set('/manifest.json', Buffer.from(JSON.stringify({ labels, dims, inputs })));
  const base = await serve(routes);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const page = await browser.newPage({ viewport: { width: 800, height: 420 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
  await page.goto(base);
  await page.waitForFunction('window.graftResult !== undefined', undefined, { timeout: 30_000 }).catch((e: Error) => {
    throw new Error(`the page never finished: ${e.message}\n${pageErrors.join('\n')}`);
  });
  const { results: outputs, error } = (await page.evaluate('window.graftResult')) as { results?: BrowserOutput[]; error?: string };
  assert.ok(outputs, `page failed: ${error}\n${pageErrors.join('\n')}`);
  await page.waitForFunction('Array.from(document.images).every((img) => img.complete)');
  const screenshot = path.join(shots, 'predictions.png');
  await page.screenshot({ path: screenshot, fullPage: true });

  const session = await ort.InferenceSession.create(file);
  let maxProb = 0;
  let maxLogit = 0;
  for (const [i, x] of tensors.entries()) {
    const inBrowser: BrowserOutput = outputs[i];
    const native = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, dims) });
    const p = native.probabilities.data as Float32Array;
    const z = native.logits.data as Float32Array;
    assert.equal(inBrowser.probabilities.length, labels.length, `${inBrowser.name}: one probability per label`);
    assert.ok(Math.abs(inBrowser.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-5, `${inBrowser.name}: probabilities sum to 1`);
    for (let k = 0; k < labels.length; k++) {
      maxProb = Math.max(maxProb, Math.abs(inBrowser.probabilities[k] - p[k]));
      maxLogit = Math.max(maxLogit, Math.abs(inBrowser.logits[k] - z[k]));
    }
    assert.equal(labels[argmax(inBrowser.probabilities)], labels[argmax(p)], `${inBrowser.name}: same predicted label`);
  }
  await session.release();
  assert.ok(maxProb <= 1e-4, `max |Δ probability| ${maxProb}`);
  const labelsShown = await page.locator('.label').allTextContents();
  assert.deepEqual(labelsShown, outputs.map((r) => labels[argmax(r.probabilities)]), 'the page shows the predicted labels');
  t.diagnostic(`max |Δ| probabilities ${maxProb.toExponential(2)}, logits ${maxLogit.toExponential(2)}; ${((Date.now() - started) / 1000).toFixed(1)} s; screenshot ${screenshot}`);
});
