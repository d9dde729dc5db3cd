/** Graph surgery for training: parameters as inputs, BatchNormalization on batch statistics, weights written back. */
import { GraphBuilder, cloneGraph, pruneUnused } from '../../onnx/graph.js';
import type { Model } from '../../onnx/types.js';
import { attr, floatAttr, floatTensor } from '../../onnx/types.js';
import { inferShapes } from '../../onnx/shapes.js';
import type { Preprocess } from '../../image/preprocess.js';
import { GraftError } from '../../util/errors.js';

/** A group of parameters sharing one optimiser and one learning-rate multiplier. */
export interface ParamGroup {
  name: string;
  params: string[];
  lrMult: number;
}

/**
 * What the training loop trains: a forward graph producing `logits` [N, classes], its input and preprocessing,
 * the parameter groups, and how BatchNormalization behaves while training: 'frozen' keeps the inference form
 * (running statistics fixed: fine-tuning), 'batch' normalises with batch statistics and updates the running
 * averages with momentum 0.1 as torch does (training from scratch).
 */
export interface TrainableNetwork {
  model: Model;
  inputName: string;
  preprocess: Preprocess;
  groups: ParamGroup[];
  batchNorm: 'frozen' | 'batch';
}

/** Running statistics of one BatchNormalization trained on batch statistics. */
export interface BatchNormState {
  layer: string;
  /** The normalised tensor. */
  input: string;
  runningMean: string;
  runningVar: string;
  /** Graph outputs holding the batch mean and (biased) variance, shape [1, C, 1, …]. */
  batchMean: string;
  batchVar: string;
}

export const BN_MOMENTUM = 0.1;

/**
 * Replaces every BatchNormalization whose scale is in `trainable` by its training form built from
 * differentiable ops: μ = mean over (N, spatial), σ² = mean (x − μ)², y = (x − μ)/√(σ² + ε)·γ + β.
 */
export function batchStatisticsForm(model: Model, trainable: Set<string>): { model: Model; states: BatchNormState[] } {
  const g = cloneGraph(model.graph);
  const b = new GraphBuilder(g);
  const nodes = g.nodes;
  g.nodes = [];
  const states: BatchNormState[] = [];
  const shapes = inferShapes(model.graph);
  for (const node of nodes) {
    if (node.opType !== 'BatchNormalization' || !trainable.has(node.inputs[1])) {
      g.nodes.push(node);
      continue;
    }
    const [x, scale, bias, runningMean, runningVar] = node.inputs;
    const rank = shapes.get(x)?.shape?.length;
    if (rank === undefined) throw new GraftError('SHAPE', `BatchNormalization ${node.name}: the rank of its input ${x} is unknown`);
    const axes = attr.ints([0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)]);
    const channelShape = b.constInt64('bn_channel_shape', [1, -1, ...Array(rank - 2).fill(1)]);
    const mean = b.op('ReduceMean', [x], { axes, keepdims: attr.i(1) }, `${node.name}/batch_mean`);
    const centred = b.op('Sub', [x, mean], {}, `${node.name}/centred`);
    const variance = b.op('ReduceMean', [b.op('Mul', [centred, centred])], { axes, keepdims: attr.i(1) }, `${node.name}/batch_var`);
    const invStd = b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [variance, b.constFloat('bn_eps', floatAttr(node, 'epsilon', 1e-5), [])])])]);
    const scaled = b.op('Mul', [b.op('Mul', [centred, invStd]), b.op('Reshape', [scale, channelShape])]);
    b.node('Add', [scaled, b.op('Reshape', [bias, channelShape])], {}, { name: `${node.name}/train`, outputs: [node.outputs[0]] });
    states.push({ layer: node.name, input: x, runningMean, runningVar, batchMean: mean, batchVar: variance });
  }
  return { model: { ...model, graph: g }, states };
}

/** The forward graph with the named initializers turned into graph inputs (fed on every run) and `outputs` as outputs. */
export function liftToInputs(model: Model, names: string[], outputs: string[]): Model {
  const g = cloneGraph(model.graph);
  for (const name of names) {
    const t = g.initializers.get(name);
    if (!t) throw new GraftError('UNKNOWN_TENSOR', `"${name}" is not an initializer of ${model.graph.name}`);
    g.initializers.delete(name);
    g.inputs.push({ name, dtype: t.dtype, shape: t.dims });
  }
  g.outputs = outputs.map((name) => g.outputs.find((o) => o.name === name) ?? { name, dtype: 'float32' });
  return { ...model, graph: pruneUnused(g) };
}

/** A copy of the model whose initializers take the given values. */
export function withValues(model: Model, values: Map<string, Float32Array>): Model {
  const initializers = new Map(model.graph.initializers);
  for (const [name, data] of values) {
    const t = initializers.get(name);
    if (!t) throw new GraftError('UNKNOWN_TENSOR', `"${name}" is not an initializer of ${model.graph.name}`);
    initializers.set(name, floatTensor(name, t.dims, Float32Array.from(data)));
  }
  return { ...model, graph: { ...model.graph, initializers } };
}
