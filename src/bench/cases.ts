/**
 * What `graft bench` can time, each as a prepared case: build once (sessions, graphs, random inputs), then
 * `step()` does one timed unit of work on `batch` images. Inputs are seeded random tensors, so the numbers
 * measure the graph, not decoding.
 */
import { GradientRunner, objectives } from '../autodiff/index.js';
import { batchDims } from '../image/layout.js';
import type { GraftModel } from '../models/load.js';
import { logitsTensor } from '../models/logits.js';
import { Session, float32, type OrtTensor, type SessionOptions } from '../runtime/session.js';
import { backboneAt } from '../train/extract.js';
import { computeStandardisation, standardise } from '../train/heads.js';
import { LogisticProblem } from '../train/logistic.js';
import { DEFAULT_WEIGHT_DECAYS, fitLogistic, selectWeightDecay, withMirrors } from '../train/select.js';
import { batchStatisticsForm } from '../train/finetune/network.js';
import { selectUnfrozen } from '../train/finetune/params.js';
import { createOptimizer } from '../optim/optim.js';
import { tensorSize } from '../onnx/types.js';
import { Rng } from '../util/rng.js';

export const BENCH_KINDS = ['forward', 'input-grad', 'train-step', 'extract', 'head'] as const;
export type BenchKind = (typeof BENCH_KINDS)[number];

export interface BenchCase {
  /** Images (or feature rows, for `head`) one step processes. */
  batch: number;
  step(): Promise<void>;
  /** Names of the forward nodes (the rest of a profile is backward). */
  forwardNodes: Set<string>;
  /** Trained parameter values, for train-step. */
  params?: number;
  /** How the step is set up, in words (printed and put in the JSON). */
  detail: string;
  endProfiling?(): void;
  release(): Promise<void>;
}

export interface CaseOptions {
  batch: number;
  session: SessionOptions;
  seed: number;
}

function randomTensor(dims: number[], seed: number): OrtTensor {
  const rng = new Rng(seed);
  return float32(Float32Array.from({ length: tensorSize(dims) }, () => rng.uniform(-1, 1)), dims);
}

/** One-hot rows [batch, classes], row r picking class r mod classes. */
function oneHot(batch: number, classes: number): OrtTensor {
  const t = new Float32Array(batch * classes);
  for (let r = 0; r < batch; r++) t[r * classes + (r % classes)] = 1;
  return float32(t, [batch, classes]);
}

const nodeNames = (m: GraftModel['model']) => new Set(m.graph.nodes.map((n) => n.name));

async function sessionCase(model: GraftModel['model'], inputName: string, dims: number[], o: CaseOptions, detail: string): Promise<BenchCase> {
  const session = await Session.create(model, o.session);
  const x = randomTensor(dims, o.seed);
  return {
    batch: o.batch, detail, forwardNodes: nodeNames(model),
    step: async () => { await session.run({ [inputName]: x }); },
    endProfiling: () => session.endProfiling(),
    release: () => session.release(),
  };
}

/** Forward pass of the whole model. */
export function forwardCase(m: GraftModel, o: CaseOptions): Promise<BenchCase> {
  return sessionCase(m.model, m.inputName, batchDims(o.batch, m.preprocess), o, 'forward pass to the model output');
}

/** Forward pass to the pooled feature vector `graft train` caches. */
export function extractCase(m: GraftModel, o: CaseOptions): Promise<BenchCase> {
  const backbone = backboneAt(m, 'features');
  return sessionCase(backbone.model, backbone.inputName, batchDims(o.batch, m.preprocess), o, `forward pass to the pooled features (${backbone.dim} values per image)`);
}

/** Forward + d(one logit per image)/d input: what dream, explain and attacks run. */
export async function inputGradCase(m: GraftModel, o: CaseOptions): Promise<BenchCase> {
  const dims = batchDims(o.batch, m.preprocess);
  const classes = m.labels.length;
  const runner = await GradientRunner.create(m.model, (b, ctx) => objectives.logit(b, logitsTensor(m, b, ctx.shapes())), {
    wrt: [m.inputName], inputShapes: { [m.inputName]: dims, target_onehot: [o.batch, classes] }, session: o.session,
  });
  const feeds = { [m.inputName]: randomTensor(dims, o.seed), target_onehot: oneHot(o.batch, classes) };
  return {
    batch: o.batch, detail: 'forward + gradient of one logit per image w.r.t. the input', forwardNodes: nodeNames(m.model),
    step: async () => { await runner.run(feeds); },
    endProfiling: () => runner.session.endProfiling(),
    release: () => runner.release(),
  };
}

/**
 * One training step on every weight: forward, softmax cross-entropy, backward, SGD with momentum 0.9 —
 * the step `graft train --finetune` takes. BatchNormalization trains on batch statistics for random weights
 * (training from scratch) and stays frozen for pretrained ones (fine-tuning), as graft's training does.
 */
export async function trainStepCase(m: GraftModel, o: CaseOptions, batchNorm: 'batch' | 'frozen'): Promise<BenchCase> {
  const dims = batchDims(o.batch, m.preprocess);
  const classes = m.labels.length;
  const params = selectUnfrozen(m.model.graph, { all: true }).params;
  const trainModel = batchNorm === 'batch' ? batchStatisticsForm(m.model, new Set(params)).model : m.model;
  const runner = await GradientRunner.create(trainModel, (b, ctx) => {
    const logits = logitsTensor({ ...m, model: trainModel }, b, ctx.shapes());
    return { target: objectives.crossEntropy(b, logits), keepOutputs: [logits] };
  }, {
    wrt: params, inputShapes: { [m.inputName]: dims, target_onehot: [o.batch, classes] }, session: o.session,
  });
  const values = params.map((p) => Float32Array.from(m.model.graph.initializers.get(p)!.data as Float32Array));
  const shapes = params.map((p) => m.model.graph.initializers.get(p)!.dims);
  const optimizer = createOptimizer('sgd', { momentum: 0.9 });
  const x = randomTensor(dims, o.seed);
  const target = oneHot(o.batch, classes);
  return {
    batch: o.batch, forwardNodes: nodeNames(trainModel), params: values.reduce((a, v) => a + v.length, 0),
    detail: `forward + cross-entropy + backward w.r.t. all ${params.length} weight tensors + SGD (momentum 0.9); BatchNormalization ${batchNorm === 'batch' ? 'on batch statistics' : 'frozen'}`,
    step: async () => {
      const feeds: Record<string, OrtTensor> = { [m.inputName]: x, target_onehot: target };
      params.forEach((p, i) => (feeds[p] = float32(values[i], shapes[i])));
      const res = await runner.run(feeds);
      optimizer.step(values, params.map((p) => res.grads[p]), 1e-3);
    },
    endProfiling: () => runner.session.endProfiling(),
    release: () => runner.release(),
  };
}

/**
 * graft train's default head on `batch` labelled images of the model's feature size (37 classes, as the Oxford
 * pets): each image also has a mirror row, the weight decay is chosen by 5-fold CV over the default grid, then the
 * head is refitted on everything. Features are synthetic: a class mean plus noise (rows of one image and its mirror
 * share the mean), standardised as graft does.
 */
export async function headCase(m: GraftModel, o: CaseOptions): Promise<BenchCase> {
  const dim = backboneAt(m, 'features').dim;
  const images = o.batch;
  const classes = 37;
  const rng = new Rng(o.seed);
  const means = Float32Array.from({ length: classes * dim }, () => 0.5 * rng.normal());
  const n = 2 * images;
  const y = Int32Array.from({ length: n }, (_, r) => (r % images) % classes);
  const x = new Float32Array(n * dim);
  for (let r = 0; r < n; r++) for (let j = 0; j < dim; j++) x[r * dim + j] = means[y[r] * dim + j] + rng.normal();
  const standardisation = computeStandardisation(x, n, dim);
  const problem = await LogisticProblem.create({ x: standardise({ x, n, dim }, standardisation), y, n, dim, nClasses: classes }, o.session);
  const imageRows = Array.from({ length: images }, (_, i) => i);
  return {
    batch: images, forwardNodes: new Set<string>(),
    detail: `graft train's default head: ${dim} → ${classes} linear, weight decay by 5-fold CV over ${DEFAULT_WEIGHT_DECAYS.length} values, then refitted (L-BFGS, onnxruntime loss+gradient), on ${images} images + their mirror rows of synthetic features`,
    step: async () => {
      const selection = await selectWeightDecay(problem, { rows: imageRows, labels: y, mirrorOffset: images, seed: o.seed });
      await fitLogistic(problem, withMirrors(imageRows, images), selection.weightDecay, selection.start);
    },
    endProfiling: () => problem.endProfiling(),
    release: () => problem.release(),
  };
}
