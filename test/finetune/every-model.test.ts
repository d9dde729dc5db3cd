/**
 * Every registry model and every kind of imported classifier (Teachable Machine TF.js export, an ONNX file with
 * its batch fixed at 1) predicts at batch 1, 3 and 32, works as a feature extractor, and fine-tunes its last
 * block and (the default) every layer; the int8 model refuses clearly. Architectures without weights here are built
 * with random weights at 32 px so the whole matrix stays small.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REGISTRY } from '../../src/models/registry.js';
import { loadModel, locateEntry, type GraftModel } from '../../src/models/load.js';
import { buildArchitecture } from '../../src/models/builders/index.js';
import { writeModel } from '../../src/onnx/codec.js';
import { batchDims } from '../../src/image/layout.js';
import { Session, asFloat32, float32 } from '../../src/runtime/session.js';
import { backboneAt } from '../../src/train/extract.js';
import { createHead } from '../../src/train/heads.js';
import { fineTune } from '../../src/train/finetune/index.js';
import { sharedModels } from '../helpers/paths.js';
import { syntheticDataset } from './synthetic.js';

process.env.GRAFT_MODELS ??= sharedModels;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-every-model-'));
process.env.GRAFT_CACHE = path.join(work, 'cache');
after(() => fs.rmSync(work, { recursive: true, force: true }));

const SMALL = 32;

interface Case {
  name: string;
  load: () => Promise<GraftModel>;
  /** The block `--unfreeze-blocks 1` (the default) trains; undefined: fine-tuning must be refused. */
  lastBlock?: string;
}

/** The block each registry model's default fine-tuning unfreezes (the last one before the `features` tap). */
const LAST_BLOCK: Record<string, string | undefined> = {
  'mobilenet_v1_0.75': 'block_13',
  darknet_tiny: 'conv2d_16',
  mobilenetv2_int8: undefined,
  mobilenet_v2: 'features.18',
  resnet18: 'layer4',
  resnet50: 'layer4',
  vgg16: 'stage5',
  vgg19: 'stage5',
  efficientnet_b0: 'features.8',
};

const cases: Case[] = REGISTRY.map((entry) => ({
  name: entry.name,
  // The real weights when they are here, else the architecture with random weights, small.
  load: () => (locateEntry(entry) ? loadModel(entry.name) : loadModel(entry.name, { randomWeights: true, inputSize: SMALL })),
  lastBlock: LAST_BLOCK[entry.name],
}));

cases.push({
  name: 'Teachable Machine export (TF.js, nested Sequential)',
  load: () => loadModel(path.join(sharedModels, 'teachable_machine_mobilenet_v2_0.35', 'model.json')),
  lastBlock: 'Conv_1',
});

cases.push({
  name: 'ONNX file with its batch fixed at 1',
  load: async () => {
    const file = path.join(work, 'resnet18-batch1.onnx');
    await writeModel(buildArchitecture('resnet18', { batch: 1, inputSize: SMALL, seed: 4 }).model, file);
    const m = await loadModel(file);
    return { ...m, preprocess: { ...m.preprocess, resizeTo: undefined } };
  },
  lastBlock: 'layer4',
});

test('the LAST_BLOCK table names every registry model', () => {
  assert.deepEqual(Object.keys(LAST_BLOCK).sort(), REGISTRY.map((e) => e.name).sort());
});

let dataset: string | undefined;

for (const c of cases) {
  test(`${c.name}: predicts at batch 1, 3 and 32, extracts features, ${c.lastBlock ? `fine-tunes ${c.lastBlock}` : 'refuses fine-tuning'}`, async (t) => {
    if (c.name.startsWith('Teachable') && !fs.existsSync(path.join(sharedModels, 'teachable_machine_mobilenet_v2_0.35'))) return t.skip('shared TM model missing');
    const m = await c.load();
    const backbone = backboneAt(m, 'features');
    const nClasses = m.labels.length;
    let featureSpread = 0;
    const predict = await Session.create(m.model);
    const features = await Session.create(backbone.model);
    try {
      const first: Float32Array[] = [];
      // How far apart two different inputs' features are (random-weight EfficientNet at 32 px: ~1e-14, so no gradient reaches its stem).
      for (const batch of [1, 3, 32]) {
        const dims = batchDims(batch, m.preprocess);
        const x = Float32Array.from({ length: dims.reduce((a, d) => a * d, 1) }, (_, i) => Math.sin(i * 0.013) * 1.5);
        const out = (await predict.run({ [m.inputName]: float32(x, dims) }, [m.outputName]))[m.outputName];
        assert.deepEqual([out.dims[0], out.dims.slice(1).reduce((a, d) => a * d, 1)], [batch, nClasses], `${c.name}: output at batch ${batch}`);
        const f = (await features.run({ [m.inputName]: float32(x, dims) }, [backbone.output]))[backbone.output];
        assert.deepEqual([...f.dims], [batch, backbone.dim]);
        const fv = asFloat32(f);
        assert.ok(fv.every(Number.isFinite));
        if (batch === 3) for (let j = 0; j < backbone.dim; j++) featureSpread = Math.max(featureSpread, Math.abs(fv[j] - fv[backbone.dim + j]));
        first.push(asFloat32(out).slice(0, nClasses));
      }
      // The same first image gives the same scores whatever the batch size (int8 kernels may round differently).
      for (const row of first.slice(1)) row.forEach((v, k) => assert.ok(Math.abs(v - first[0][k]) <= 1e-3 * (1 + Math.abs(first[0][k])), `${c.name}: batch-size dependent output`));
    } finally {
      await predict.release();
      await features.release();
    }

    dataset ??= await syntheticDataset({ train: 5, validation: 3 });
    const head = createHead({ kind: 'linear', inputDim: backbone.dim, nClasses: 2, hidden: [], dropout: 0 }, 1);
    // Batch 4 over 10 images: two full steps and a short one (filled up by the loop).
    // keepStart: false exports the trained epoch even where one epoch of this tiny task does not beat the start on validation.
    const run = fineTune({ model: m, head, dataset, unfreeze: { blocks: 1 }, epochs: 1, batchSize: 4, lr: 1e-3, seed: 2, augment: false, keepStart: false });
    if (!c.lastBlock) {
      await assert.rejects(run, (e: Error & { code?: string }) => e.code === 'UNSUPPORTED_OP' && /cannot be fine-tuned/.test(e.message));
      return;
    }
    const r = await run;
    assert.deepEqual(r.trained.blocks, [c.lastBlock]);
    assert.equal(r.history.length, 1);
    assert.ok(Number.isFinite(r.history[0].trainLoss) && Number.isFinite(r.history[0].valLoss!), `${c.name}: losses ${JSON.stringify(r.history[0])}`);
    const trainedParam = r.trained.layers.map((l) => m.model.graph.nodes.find((n) => n.name === l)).find((n) => n?.opType === 'Conv')!.inputs[1];
    const before = m.model.graph.initializers.get(trainedParam)!.data as Float32Array;
    const after_ = r.model.graph.initializers.get(trainedParam)!.data as Float32Array;
    assert.ok(before.some((v, i) => v !== after_[i]), `${c.name}: ${trainedParam} of the unfrozen block changed`);

    // The default (FINE_TUNE_DEFAULTS.unfreeze): every backbone layer trains, down to the first convolution.
    const all = await fineTune({ model: m, head, dataset, epochs: 1, batchSize: 4, lr: 1e-3, seed: 2, augment: false, keepStart: false });
    assert.ok(Number.isFinite(all.history[0].trainLoss), `${c.name}: all-layer loss ${JSON.stringify(all.history[0])}`);
    const firstConv = m.model.graph.nodes.find((n) => n.opType === 'Conv')!;
    assert.ok(all.trained.layers.includes(firstConv.name), `${c.name}: the first conv ${firstConv.name} trains by default`);
    const w0 = m.model.graph.initializers.get(firstConv.inputs[1])!.data as Float32Array;
    const w1 = all.model.graph.initializers.get(firstConv.inputs[1])!.data as Float32Array;
    if (featureSpread > 1e-6) assert.ok(w0.some((v, i) => v !== w1[i]), `${c.name}: the first conv's weights changed`);
    else t.diagnostic(`${c.name}: features do not depend on the input (spread ${featureSpread.toExponential(1)}), so its stem gets no gradient to check`);
  });
}
