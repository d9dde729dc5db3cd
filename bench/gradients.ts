/**
 * Forward + input-gradient time (d logit / d input, the gradient dream, explain and attack use) next to
 * forward-only time of the same model measured in the same run, in ms/image at batch 1 and 8:
 * MobileNetV2 (builder), the default TF.js MobileNet v1 0.75, ResNet-50 and VGG-16 (builders, random weights).
 * Inputs are random tensors. The machine is shared: see the load average printed per row.
 * Run: node --import tsx bench/gradients.ts [models=mobilenet_v2,mobilenet_v1_0.75,resnet50,vgg16] [batches=1,8] [reps=5]
 * (GRAFT_THREADS=1 gives steadier numbers when other jobs share the cores).
 */
import { batchDims } from '../src/image/layout.js';
import { medianMs } from './timing.js';
import os from 'node:os';
import path from 'node:path';
import { GradientRunner, objectives } from '../src/autodiff/index.js';
import { loadModel } from '../src/models/load.js';
import { logitsTensor } from '../src/models/logits.js';
import { Session, defaultThreads, float32 } from '../src/runtime/session.js';
import { Rng } from '../src/util/rng.js';

const shared = process.env.GRAFT_SHARED ?? path.resolve(import.meta.dirname, '..', '..', 'shared');
process.env.GRAFT_MODELS ??= path.join(shared, 'models');
const models = (process.argv[2] ?? 'mobilenet_v2,mobilenet_v1_0.75,resnet50,vgg16').split(',');
const batchSizes = (process.argv[3] ?? '1,8').split(',').map(Number);
const reps = Number(process.argv[4] ?? 5);
const BUILDERS = new Set(['mobilenet_v2', 'resnet50', 'resnet18', 'vgg16', 'vgg19', 'efficientnet_b0']);



async function measure(spec: string, batch: number): Promise<void> {
  const m = await loadModel(spec, { randomWeights: BUILDERS.has(spec) });
  const dims = batchDims(batch, m.preprocess);
  const rng = new Rng(1);
  const x = float32(Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rng.uniform(-1, 1)), dims);
  const classes = m.labels.length;
  const onehot = new Float32Array(batch * classes);
  for (let r = 0; r < batch; r++) onehot[r * classes + 281] = 1;
  const count = spec.startsWith('vgg') && batch > 1 ? Math.min(reps, 3) : reps;

  const forward = await Session.create(m.model);
  const fwd = await medianMs(() => forward.run({ [m.inputName]: x }), count);
  await forward.release();

  const built = performance.now();
  const runner = await GradientRunner.create(m.model, (b, ctx) => objectives.logit(b, logitsTensor(m, b, ctx.shapes())), {
    wrt: [m.inputName], inputShapes: { [m.inputName]: dims, target_onehot: [batch, classes] },
  });
  const buildSeconds = (performance.now() - built) / 1000;
  const grad = await medianMs(() => runner.run({ [m.inputName]: x, target_onehot: float32(onehot, [batch, classes]) }), count);
  await runner.release();
  console.log([
    spec.padEnd(20), `batch ${String(batch).padStart(2)}`,
    `forward ${(fwd / batch).toFixed(1).padStart(6)} ms/img`,
    `fwd+grad ${(grad / batch).toFixed(1).padStart(6)} ms/img`,
    `ratio ${(grad / fwd).toFixed(2).padStart(5)}`,
    `build ${buildSeconds.toFixed(1)} s`, `load ${os.loadavg()[0].toFixed(2)}`,
  ].join('  '));
}

console.log(`forward + input gradient — ${defaultThreads()} threads, node ${process.version}, ${new Date().toISOString()}`);
for (const spec of models) for (const batch of batchSizes) await measure(spec, batch);
