/** Fine-tuning and training from scratch on a tiny synthetic dataset: what trains, what stays frozen, checkpoints, resume. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { buildArchitecture } from '../../src/models/builders/index.js';
import { loadModel } from '../../src/models/load.js';
import { createHead } from '../../src/train/heads.js';
import type { Model } from '../../src/onnx/types.js';
import { Session, asFloat32, float32 } from '../../src/runtime/session.js';
import { loadBatch } from '../../src/image/batch.js';
import { fineTune, headFromClassifier, readCheckpoint, selectUnfrozen, trainFromScratch } from '../../src/train/finetune/index.js';
import { backboneAt } from '../../src/train/extract.js';
import { fineTunedBackbone, trainEndToEnd } from '../../src/train/finetune/pipeline.js';
import { readModel } from '../../src/onnx/codec.js';
import { withValues } from '../../src/train/finetune/network.js';
import type { ProgressSink } from '../../src/util/progress.js';
import { sharedModels } from '../helpers/paths.js';
import { SYNTHETIC_CLASSES, syntheticDataset, tinyBackbone } from './synthetic.js';

// One intra-op thread: onnxruntime's reductions then run in a fixed order, so reruns are bit-identical.
process.env.GRAFT_THREADS = '1';

const initial = (m: Model, name: string) => m.graph.initializers.get(name)!.data as Float32Array;
const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => Object.is(v, b[i]));

test('blocks: MobileNet v1 conv_dw_k/conv_pw_k pairs, ResNet stages; --unfreeze LAYER takes that layer onwards', async (t) => {
  const resnet = buildArchitecture('resnet18', { classes: 4 }).model.graph;
  const notFc = (p: string) => p.startsWith('fc.');
  assert.deepEqual(selectUnfrozen(resnet, { blocks: 1 }, notFc).blocks, ['layer4']);
  assert.deepEqual(selectUnfrozen(resnet, { blocks: 2 }, notFc).blocks, ['layer3', 'layer4']);
  assert.equal(selectUnfrozen(resnet, { blocks: 99 }, notFc).blocks[0], 'stem');
  const fromLayer = selectUnfrozen(resnet, { layer: 'layer4.1.conv2' }, notFc).layers;
  assert.deepEqual(fromLayer, ['layer4.1.conv2', 'layer4.1.bn2']);
  assert.throws(() => selectUnfrozen(resnet, { layer: 'layer9' }), /--unfreeze layer9: no layer/);

  if (!fs.existsSync(path.join(sharedModels, 'mobilenet_v1_0.75_224'))) return t.skip('shared MobileNet missing');
  process.env.GRAFT_MODELS ??= sharedModels;
  const mobilenet = backboneAt(await loadModel('mobilenet_v1_0.75'), 'features').model.graph;
  const last = selectUnfrozen(mobilenet, { blocks: 1 });
  assert.deepEqual(last.layers, ['conv_dw_13', 'conv_dw_13_bn', 'conv_pw_13', 'conv_pw_13_bn']);
  assert.ok(last.params.includes('conv_pw_13_bn/gamma_1') && !last.params.some((p) => /moving_(mean|variance)/.test(p)), 'γ/β train, running statistics stay frozen');
  assert.equal(selectUnfrozen(mobilenet, { blocks: 2 }).blocks.join(), 'block_12,block_13');
  assert.equal(selectUnfrozen(mobilenet, { blocks: 14 }).blocks[0], 'stem');
});

test('fineTune: head + last block train, everything else is bit-identical; the export carries the fine-tuned weights', async () => {
  const root = await syntheticDataset({ train: 16, validation: 6 });
  const model = tinyBackbone();
  const head = createHead({ kind: 'linear', inputDim: 128, nClasses: 2, hidden: [], dropout: 0 }, 1);
  const frozenHead = head.parameters().map((p) => Float32Array.from(p.data));
  const r = await fineTune({ model, head, dataset: root, unfreeze: { blocks: 1 }, epochs: 2, batchSize: 8, lr: 1e-3, seed: 5 });
  assert.equal(r.history.length, 2);
  assert.deepEqual(r.classes, SYNTHETIC_CLASSES);
  assert.deepEqual(r.trained.layers.slice(0, 2), ['features.3.conv', 'features.3.bn']);
  const out = r.model.graph.initializers;
  assert.ok(!same(out.get('features.3.conv.weight')!.data as Float32Array, initial(model.model, 'features.3.conv.weight')), 'last block trained');
  assert.ok(!same(out.get('head.fc0.weight')!.data as Float32Array, frozenHead[0]), 'head trained');
  for (const name of ['features.2.conv.weight', 'features.0.bn.weight', 'features.3.bn.running_mean', 'features.3.bn.running_var']) {
    assert.ok(same(out.get(name)!.data as Float32Array, initial(model.model, name)), `${name} frozen`);
  }
  assert.ok(JSON.parse(r.model.metadata['graft.fine_tuned']).layers.includes('features.3.conv'));
  assert.deepEqual(headFromClassifier(r.model).parameters().map((p) => p.data.length), [256, 2]);

  // The exported file reproduces the reported validation accuracy.
  const session = await Session.create(r.model);
  const val = fs.readdirSync(path.join(root, 'validation')).flatMap((c) => fs.readdirSync(path.join(root, 'validation', c)).map((f) => ({ file: path.join(root, 'validation', c, f), label: SYNTHETIC_CLASSES.indexOf(c) })));
  const batch = await loadBatch(val.map((v) => v.file), model.preprocess);
  const probs = asFloat32((await session.run({ input: float32(batch.data, batch.dims) })).probabilities);
  const correct = val.filter((v, i) => (probs[2 * i + 1] > probs[2 * i] ? 1 : 0) === v.label).length;
  assert.equal(correct / val.length, r.val!.accuracy);
  await session.release();
});

test('fineTune: the start weights are epoch 0 of the selection; an epoch that does worse on validation never replaces them', async () => {
  const root = await syntheticDataset({ train: 16, validation: 6 });
  const model = tinyBackbone();
  const head = createHead({ kind: 'linear', inputDim: 128, nClasses: 2, hidden: [], dropout: 0 }, 1);
  const lines: string[] = [];
  // A learning rate this large wrecks the network in one step: no epoch can beat where it started.
  const r = await fineTune({ model, head, dataset: root, unfreeze: { blocks: 1 }, epochs: 2, batchSize: 8, lr: 1e4, seed: 5, augment: false, log: (l) => lines.push(l) });
  assert.equal(r.history.length, 2);
  assert.ok(r.history.every((row) => row.valLoss! > 10), JSON.stringify(r.history));
  assert.equal(r.bestEpoch, 0);
  assert.ok(lines.some((l) => /^start weights: val acc/.test(l)) && lines.some((l) => /no epoch beat the start weights/.test(l)), lines.join('\n'));
  const out = r.model.graph.initializers;
  assert.ok(same(out.get('features.3.conv.weight')!.data as Float32Array, initial(model.model, 'features.3.conv.weight')), 'backbone as loaded');
  assert.ok(same(out.get('head.fc0.weight')!.data as Float32Array, head.parameters()[0].data), 'head as it started');
  assert.ok(r.val!.loss < 10, `val of the kept start weights: ${r.val!.loss}`);
});

/** A progress sink that aborts once the named task reaches `step`. */
function abortAt(controller: AbortController, label: string, step: number): ProgressSink {
  return { start: (l) => ({ update: (done) => (l === label && done >= step ? controller.abort() : undefined), increment() {}, finish() {} }) };
}

test('abort mid-epoch → checkpoint → resume: final weights and history bit-identical to an uninterrupted run', async () => {
  const root = await syntheticDataset({ train: 20, validation: 6 }, 7);
  const run = (checkpointDir: string, extra: object = {}) => fineTune({
    model: tinyBackbone(), head: createHead({ kind: 'linear', inputDim: 128, nClasses: 2, hidden: [], dropout: 0 }, 2),
    dataset: root, unfreeze: { layer: 'features.2.conv' }, epochs: 3, batchSize: 6, lr: 2e-3, seed: 9, checkpointDir, ...extra,
  });
  const whole = await run(path.join(root, 'a'));
  const controller = new AbortController();
  const cut = await run(path.join(root, 'b'), { signal: controller.signal, progress: abortAt(controller, 'epoch 2/3', 2) });
  assert.ok(cut.interrupted);
  const ck = readCheckpoint<{ epoch: number; step: number }>(path.join(root, 'b'))!;
  assert.deepEqual([ck.meta.epoch, ck.meta.step], [1, 2], 'checkpoint after step 2 of epoch 2');
  const resumed = await run(path.join(root, 'b'), { resume: true });
  assert.ok(!resumed.interrupted);
  const strip = (h: typeof whole.history) => h.map(({ seconds: _s, ...row }) => row);
  assert.deepEqual(strip(resumed.history), strip(whole.history));
  for (const [name, t] of whole.model.graph.initializers) {
    assert.ok(same(resumed.model.graph.initializers.get(name)!.data as Float32Array, t.data as Float32Array), `${name} bit-identical`);
  }
  await assert.rejects(run(path.join(root, 'b'), { resume: true, lr: 1 }), /checkpoint was written with lr = 0.002, this run has 1/);
});

test('trainFromScratch: scratch CNN learns the synthetic task; BatchNormalization running statistics move', async () => {
  const root = await syntheticDataset({ train: 24, validation: 8 }, 11);
  const r = await trainFromScratch({ architecture: 'scratch-cnn', inputSize: 32, dataset: root, epochs: 4, batchSize: 8, lr: 3e-3, seed: 1 });
  const initialModel = buildArchitecture('scratch_cnn', { classes: 2, seed: 1, inputSize: 32 }).model;
  assert.ok(r.val!.accuracy >= 0.75, `val accuracy ${r.val!.accuracy}`);
  assert.ok(r.history.at(-1)!.trainLoss < r.history[0].trainLoss);
  assert.ok(!same(r.model.graph.initializers.get('features.0.bn.running_mean')!.data as Float32Array, initial(initialModel, 'features.0.bn.running_mean')));
  assert.deepEqual(r.model.graph.outputs.map((o) => o.name), ['probabilities', 'logits']);
  assert.deepEqual(JSON.parse(r.model.metadata['graft.labels']), SYNTHETIC_CLASSES);
});

test('trainEndToEnd with a test split: the exported head is graft train\'s head re-fitted on the fine-tuned features; frozen.test is the same head on the frozen backbone', async () => {
  const root = await syntheticDataset({ train: 16, validation: 6, test: 6 }, 5);
  const out = path.join(root, 'out');
  const model = tinyBackbone();
  const report = await trainEndToEnd(root, { out, model, unfreeze: { blocks: 1 }, epochs: 2, batchSize: 8, lr: 1e-3, seed: 3, plots: false });
  const read = (dir: string) => JSON.parse(fs.readFileSync(path.join(out, dir, 'report.json'), 'utf8')) as { test: unknown; mode: string };
  assert.deepEqual(report.test, read('head').test, 'test: the re-fitted head');
  assert.deepEqual(report.frozen!.test, read('baseline').test, 'frozen.test: the same head on frozen features');
  assert.equal(read('baseline').mode, 'frozen');
  const exported = readModel(path.join(out, 'model.onnx'));
  const refitted = readModel(path.join(out, 'head', 'model.onnx'));
  assert.ok(JSON.parse(exported.metadata['graft.fine_tuned']).blocks.length === 1);
  // graft train's export (b0/ = the first backbone): the last block fine-tuned, the rest as loaded.
  const tensor = (m: Model, name: string) => m.graph.initializers.get(name)!.data as Float32Array;
  assert.ok(!same(tensor(exported, 'b0/features.3.conv.weight'), initial(model.model, 'features.3.conv.weight')), 'fine-tuned backbone exported');
  assert.ok(same(tensor(exported, 'b0/features.2.conv.weight'), initial(model.model, 'features.2.conv.weight')), 'frozen layers as loaded');
  for (const [name, t] of refitted.graph.initializers) assert.ok(same(tensor(exported, name), t.data as Float32Array), `${name} as re-fitted`);
  assert.equal(fineTunedBackbone(model, model.model), model, 'nothing changed: the same model (and feature cache)');
  const changed = withValues(model.model, new Map([['features.3.conv.weight', new Float32Array(initial(model.model, 'features.3.conv.weight').length)]]));
  const tuned = fineTunedBackbone(model, changed);
  assert.ok(tuned.hash !== model.hash && tuned.hash === fineTunedBackbone(model, changed).hash, 'its own feature cache, the same for the same weights');
  assert.ok(same(tensor(tuned.model, 'features.3.conv.weight'), tensor(changed, 'features.3.conv.weight')));
});
