/**
 * `npm run bench [-- section...]` — graft's speed next to a peer measured in the same run (these machines are
 * noisy, so ratios matter more than absolute numbers). Sections: forward, decode, train, gradients, finetune, peers (graft bench vs PyTorch).
 * Models and images come from ../shared (GRAFT_MODELS); caches go to a temp dir.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import sharp from 'sharp';
import { loadModel } from '../src/models/load.js';
import { Session, float32 } from '../src/runtime/session.js';
import { batches } from '../src/image/batch.js';
import { batchDims } from '../src/image/layout.js';
import { medianMs } from './timing.js';
import { GradientRunner, objectives } from '../src/autodiff/index.js';
import { logitsTensor } from '../src/models/logits.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.GRAFT_SHARED ?? path.resolve(root, '..', 'shared');
process.env.GRAFT_MODELS ??= path.join(shared, 'models');
process.env.GRAFT_CACHE ??= fs.mkdtempSync(path.join(os.tmpdir(), 'graft-bench-'));
const catsDogs = path.join(shared, 'datasets', 'cats_and_dogs_filtered');
const sections = process.argv.slice(2).length ? process.argv.slice(2) : ['forward', 'decode', 'train', 'gradients', 'finetune', 'peers'];

const now = () => performance.now();
/** One aligned table row; numbers get 1 decimal (2 below 10). */
function row(...cells: (string | number)[]): void {
  console.log(cells.map((c, i) => (typeof c === 'number' ? c.toFixed(c < 10 ? 2 : 1) : c).padEnd(i === 0 ? 42 : 18)).join(''));
}
const load = () => os.loadavg()[0].toFixed(2);



function randomInput(dims: number[]): Float32Array {
  const x = new Float32Array(dims.reduce((a, b) => a * b, 1));
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 12.9898) * 0.8;
  return x;
}

let wasmReady: Promise<boolean> | undefined;
async function useWasm(): Promise<void> {
  setWasmPaths(path.join(root, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist') + path.sep);
  wasmReady ??= tf.setBackend('wasm');
  await wasmReady;
}

function tfjsFileHandler(modelJson: string): tf.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(fs.readFileSync(modelJson, 'utf8')) as { modelTopology: object; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
      const bytes = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(path.dirname(modelJson), p)))));
      return { modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((g) => g.weights), weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) };
    },
  };
}

async function forward(): Promise<void> {
  console.log(`\n## forward pass (onnxruntime, ${os.availableParallelism()} threads) vs TF.js wasm — load ${load()}`);
  row('model', 'batch', 'graft img/s', 'tfjs-wasm img/s', 'ratio');
  await useWasm();
  const tfModel = await tf.loadLayersModel(tfjsFileHandler(path.join(process.env.GRAFT_MODELS!, 'mobilenet_v1_0.75_224', 'model.json')));
  for (const [spec, random] of [['mobilenet_v1_0.75', false], ['resnet50', true], ['vgg16', true]] as const) {
    const m = await loadModel(spec, { randomWeights: random });
    const session = await Session.create(m.model);
    for (const batch of [1, 32]) {
      const dims = batchDims(batch, m.preprocess);
      const x = float32(randomInput(dims), dims);
      const reps = spec === 'vgg16' && batch === 32 ? 2 : batch === 1 ? 10 : 3;
      const ms = await medianMs(() => session.run({ [m.inputName]: x }), reps);
      let peer = '';
      let ratio = '';
      if (spec === 'mobilenet_v1_0.75') {
        const t = tf.tensor(randomInput(dims), dims);
        const peerMs = await medianMs(async () => { const y = tfModel.predict(t) as tf.Tensor; await y.data(); y.dispose(); }, batch === 1 ? 5 : 2);
        t.dispose();
        peer = (1000 * batch / peerMs).toFixed(1);
        ratio = `${(peerMs / ms).toFixed(1)}× faster`;
      }
      row(spec + (random ? ' (random weights)' : ''), String(batch), 1000 * batch / ms, peer, ratio);
    }
    await session.release();
  }
}

async function decode(): Promise<void> {
  console.log(`\n## decode + preprocess to 224×224 tensors, cats_and_dogs_filtered/train/cats — load ${load()}`);
  const files = fs.readdirSync(path.join(catsDogs, 'train', 'cats')).slice(0, 400).map((f) => path.join(catsDogs, 'train', 'cats', f));
  const m = await loadModel();
  row('pipeline', 'images', 'img/s', 'ratio');
  let t = now();
  for (const f of files) {
    const raw = await sharp(f).removeAlpha().resize(224, 224, { fit: 'fill' }).raw().toBuffer();
    Float32Array.from(raw, (v) => v / 127.5 - 1);
  }
  const naive = files.length / ((now() - t) / 1000);
  row('sharp, one image at a time', String(files.length), naive, '1.0×');
  t = now();
  for await (const _batch of batches(files, m.preprocess, { batchSize: 32 })) { /* consume */ }
  const graft = files.length / ((now() - t) / 1000);
  row('graft batches (prefetch, concurrency 2)', String(files.length), graft, `${(graft / naive).toFixed(1)}×`);
}

function runCli(args: string[], env: Record<string, string>): { seconds: number; stdout: string } {
  const t = now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/run.ts'), ...args], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`graft ${args.join(' ')} failed: ${r.stderr}`);
  return { seconds: (now() - t) / 1000, stdout: r.stdout };
}

async function train(): Promise<void> {
  console.log(`\n## JPEG folder → trained classifier: graft train cats_and_dogs_filtered (3000 images) — load ${load()}`);
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-bench-train-'));
  const out = path.join(cache, 'out');
  const cold = runCli(['train', catsDogs, '--out', out, '--json'], { GRAFT_CACHE: cache });
  const report = JSON.parse(cold.stdout);
  const warm = runCli(['train', catsDogs, '--out', out, '--json'], { GRAFT_CACHE: cache });
  row('run', 'wall s', 'extract img/s', 'val acc');
  row('cold cache', cold.seconds, report.timing.imagesPerSecond, report.val.accuracy.toFixed(4));
  row('warm cache', warm.seconds, '-', JSON.parse(warm.stdout).val.accuracy.toFixed(4));

  // Peer: the same pipeline in TF.js + wasm (decode with sharp, MobileNet pooled features), on a subset.
  await useWasm();
  const tfModel = await tf.loadLayersModel(tfjsFileHandler(path.join(process.env.GRAFT_MODELS!, 'mobilenet_v1_0.75_224', 'model.json')));
  const features = tf.model({ inputs: tfModel.inputs, outputs: tfModel.getLayer('global_average_pooling2d_1').output as tf.SymbolicTensor });
  const files = fs.readdirSync(path.join(catsDogs, 'train', 'dogs')).slice(0, 96).map((f) => path.join(catsDogs, 'train', 'dogs', f));
  const t = now();
  for (let i = 0; i < files.length; i += 32) {
    const chunk = files.slice(i, i + 32);
    const raws = await Promise.all(chunk.map((f) => sharp(f).removeAlpha().resize(224, 224, { fit: 'fill' }).raw().toBuffer()));
    const x = tf.tidy(() => tf.stack(raws.map((r) => tf.tensor3d(new Uint8Array(r), [224, 224, 3], 'int32').toFloat().div(127.5).sub(1))));
    const y = features.predict(x) as tf.Tensor;
    await y.data();
    tf.dispose([x, y]);
  }
  const peer = files.length / ((now() - t) / 1000);
  row('tfjs-wasm extraction (96 images)', '-', peer, '-');
  console.log(`extraction: graft ${(report.timing.imagesPerSecond / peer).toFixed(1)}× the TF.js wasm pipeline; at its rate the 3000 images would take ${(3000 / peer).toFixed(0)} s`);
}

async function gradients(): Promise<void> {
  console.log(`\n## forward + input gradient (d logit / d input), batch 1 — load ${load()}`);
  row('model', 'forward ms/img', 'fwd+grad ms/img', 'ratio');
  for (const [spec, random] of [['mobilenet_v1_0.75', false], ['resnet50', true], ['vgg16', true]] as const) {
    const m = await loadModel(spec, { randomWeights: random });
    const dims = batchDims(1, m.preprocess);
    const x = float32(randomInput(dims), dims);
    const session = await Session.create(m.model);
    const fwd = await medianMs(() => session.run({ [m.inputName]: x }), 5);
    await session.release();
    const runner = await GradientRunner.create(m.model, (b, ctx) => objectives.logit(b, logitsTensor(m, b, ctx.shapes())), { wrt: [m.inputName], inputShapes: { [m.inputName]: dims, target_onehot: [1, m.labels.length] } });
    const onehot = new Float32Array(m.labels.length);
    onehot[281] = 1;
    const grad = await medianMs(() => runner.run({ [m.inputName]: x, target_onehot: float32(onehot, [1, m.labels.length]) }), spec === 'vgg16' ? 3 : 5);
    row(spec + (random ? ' (random weights)' : ''), fwd, grad, `${(grad / fwd).toFixed(1)}×`);
  }
  const img = path.join(catsDogs, 'validation', 'dogs', 'dog.2000.jpg');
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-bench-grad-'));
  const dream = runCli(['dream', '--class', 'tabby cat', '--out', path.join(out, 'dream.png'), '--json'], {});
  const attack = runCli(['attack', img, '--target', 'tabby cat', '--out', path.join(out, 'adv.png'), '--json'], {});
  row('graft dream --class "tabby cat"', `${dream.seconds.toFixed(1)} s`, `p ${JSON.parse(dream.stdout).probability.toFixed(3)}`);
  row('graft attack (PGD, target tabby)', `${attack.seconds.toFixed(1)} s`, `p ${JSON.parse(attack.stdout).adversarial.probability.toFixed(3)}`);
}

function finetune(): void {
  const script = path.join(root, 'bench', 'train-step.ts');
  if (!fs.existsSync(script)) return;
  console.log(`\n## training step (forward + backward + update) — load ${load()}`);
  spawnSync(process.execPath, ['--import', 'tsx', script], { stdio: 'inherit', env: process.env });
}

/** graft bench vs PyTorch (python3-torch), back to back: bench/compare.ts. */
function peers(): void {
  console.log(`\n## graft bench vs PyTorch, same run — load ${load()}`);
  spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'bench', 'compare.ts')], { stdio: 'inherit', env: process.env });
}

const SECTIONS: Record<string, () => Promise<void> | void> = { forward, decode, train, gradients, finetune, peers };
console.log(`graft bench — ${os.cpus()[0]?.model ?? 'cpu'}, ${os.availableParallelism()} cores, node ${process.version}, ${new Date().toISOString()}`);
for (const s of sections) {
  if (!SECTIONS[s]) throw new Error(`unknown section ${s}; sections: ${Object.keys(SECTIONS).join(', ')}`);
  await SECTIONS[s]();
}
