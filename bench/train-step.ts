/**
 * Training-step time (forward + backward w.r.t. the trained weights + optimiser update) next to forward-only
 * time of the same graph in the same run, in ms/image and images/s:
 * MobileNet v1 0.75 (224 px) with its head and the last 1, 2 and all blocks unfrozen (BatchNormalization frozen),
 * and ResNet-18 from scratch (random weights, 224 px, batch-statistics BatchNormalization).
 * Inputs are random tensors: this measures the graph, not decoding. The machine is shared: see the load average.
 * Run: node --import tsx bench/train-step.ts [batch=16] [reps=3]
 */
import { medianMs } from './timing.js';
import os from 'node:os';
import path from 'node:path';
import { GradientRunner, objectives } from '../src/autodiff/index.js';
import { loadModel } from '../src/models/load.js';
import { buildArchitecture } from '../src/models/builders/index.js';
import type { Model } from '../src/onnx/types.js';
import { Session, float32 } from '../src/runtime/session.js';
import { classifierOnBackbone } from '../src/train/export.js';
import { backboneAt } from '../src/train/extract.js';
import { createHead } from '../src/train/heads.js';
import { createOptimizer } from '../src/optim/optim.js';
import { batchStatisticsForm, liftToInputs } from '../src/train/finetune/network.js';
import { selectUnfrozen, type Unfreeze } from '../src/train/finetune/params.js';
import { Rng } from '../src/util/rng.js';

const shared = process.env.GRAFT_SHARED ?? path.resolve(import.meta.dirname, '..', '..', 'shared');
process.env.GRAFT_MODELS ??= path.join(shared, 'models');
const batch = Number(process.argv[2] ?? 16);
const reps = Number(process.argv[3] ?? 3);
const classes = 2;

interface Case {
  name: string;
  model: Model;
  inputName: string;
  inputDims: number[];
  params: string[];
  batchNorm: 'frozen' | 'batch';
}


async function measure(c: Case): Promise<void> {
  const rng = new Rng(1);
  const input = float32(Float32Array.from({ length: c.inputDims.reduce((a, b) => a * b, 1) }, () => rng.uniform(-1, 1)), c.inputDims);
  const target = new Float32Array(batch * classes);
  for (let r = 0; r < batch; r++) target[r * classes + (r % classes)] = 1;
  const trainModel = c.batchNorm === 'batch' ? batchStatisticsForm(c.model, new Set(c.params)).model : c.model;
  const built = performance.now();
  const runner = await GradientRunner.create(trainModel, (b) => objectives.crossEntropy(b, 'logits'), {
    wrt: c.params, inputShapes: { [c.inputName]: c.inputDims, target_onehot: [batch, classes] }, keepOutputs: ['logits'],
  });
  const buildSeconds = (performance.now() - built) / 1000;
  const values = c.params.map((p) => Float32Array.from(c.model.graph.initializers.get(p)!.data as Float32Array));
  const feeds = () => Object.fromEntries(c.params.map((p, i) => [p, float32(values[i], c.model.graph.initializers.get(p)!.dims)]));
  const optimizer = createOptimizer('adam');
  const step = await medianMs(async () => {
    const res = await runner.run({ [c.inputName]: input, target_onehot: float32(target, [batch, classes]), ...feeds() });
    optimizer.step(values, c.params.map((p) => res.grads[p]), 1e-5);
  }, reps);
  await runner.release();
  const forward = await Session.create(liftToInputs(c.model, c.params, ['logits']));
  const fwd = await medianMs(() => forward.run({ [c.inputName]: input, ...feeds() }), reps);
  await forward.release();
  const count = values.reduce((a, v) => a + v.length, 0);
  console.log([
    c.name.padEnd(34), `${count.toLocaleString().padStart(11)} params`,
    `step ${(step / batch).toFixed(1).padStart(6)} ms/img ${(1000 * batch / step).toFixed(1).padStart(6)} img/s`,
    `forward ${(fwd / batch).toFixed(1).padStart(5)} ms/img ${(1000 * batch / fwd).toFixed(1).padStart(6)} img/s`,
    `step/forward ${(step / fwd).toFixed(2)}`, `graph build ${buildSeconds.toFixed(1)} s`, `load ${os.loadavg()[0].toFixed(2)}`,
  ].join('  '));
}

console.log(`batch ${batch}, median of ${reps} after a warm-up, ${os.cpus().length} cores, load average at start ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const mobilenet = await loadModel('mobilenet_v1_0.75');
const backbone = backboneAt(mobilenet, 'features');
const head = createHead({ kind: 'linear', inputDim: backbone.dim, nClasses: classes, hidden: [], dropout: 0 }, 1);
const classifier = classifierOnBackbone(backbone, head, { labels: ['a', 'b'], backbone: mobilenet, tap: 'features' });
const headParams = [...classifier.graph.initializers.keys()].filter((p) => p.startsWith('head.'));
const notHead = (p: string) => p.startsWith('head.');
const unfreezes: [string, Unfreeze][] = [['head only', { blocks: 0 }], ['last 1 block', { blocks: 1 }], ['last 2 blocks', { blocks: 2 }], ['all blocks', { all: true }]];
for (const [label, unfreeze] of unfreezes) {
  const params = [...headParams, ...selectUnfrozen(classifier.graph, unfreeze, notHead).params];
  await measure({ name: `mobilenet_v1_0.75 ${label}`, model: classifier, inputName: mobilenet.inputName, inputDims: [batch, 224, 224, 3], params, batchNorm: 'frozen' });
}
const resnet = buildArchitecture('resnet18', { classes, seed: 0 });
await measure({
  name: 'resnet18 from scratch (224 px)', model: resnet.model, inputName: 'input', inputDims: [batch, 3, 224, 224],
  params: selectUnfrozen(resnet.model.graph, { all: true }).params, batchNorm: 'batch',
});
