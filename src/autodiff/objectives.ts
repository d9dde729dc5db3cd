/**
 * Objective fragments appended to a forward graph before differentiation. Each returns the name of a
 * scalar tensor. Anything a user may change between runs (target class, channel, loss weights) is a
 * graph input, so one gradient session serves every choice. The ops used are valid at opsets 11–18.
 */
import type { GraphBuilder } from '../onnx/graph.js';
import type { Dim } from '../onnx/types.js';
import { attr } from '../onnx/types.js';
import { inferShapes } from '../onnx/shapes.js';
import { GraftError } from '../util/errors.js';

const KEEP_NONE = { keepdims: attr.i(0) };
/** "To the end" for Slice ends. */
const END = 2 ** 31 - 1;

function shapeOf(b: GraphBuilder, tensor: string): Dim[] {
  const shape = inferShapes(b.graph).get(tensor)?.shape;
  if (!shape) throw new GraftError('SHAPE', `objective: the rank of tensor "${tensor}" is unknown`);
  return shape;
}

/** Declares a float graph input unless the graph already has one of that name; returns the name. */
export function floatInput(b: GraphBuilder, name: string, shape: Dim[]): string {
  if (!b.graph.inputs.some((i) => i.name === name)) b.input(name, 'float32', shape);
  return name;
}

/** Sum over all elements. */
function total(b: GraphBuilder, x: string): string {
  return b.op('ReduceSum', [x], KEEP_NONE);
}

/** The batch size as a float scalar, read from the tensor at run time. */
function batchSize(b: GraphBuilder, x: string): string {
  const n = b.op('Gather', [b.op('Shape', [x]), b.constInt64('zero', [0], [])], { axis: attr.i(0) });
  return b.op('Cast', [n], { to: attr.i(1) });
}

/** Σ over the batch of the logit picked by the one-hot [N, C] input `classInput` (declared if missing). */
export function logit(b: GraphBuilder, logits: string, classInput = 'target_onehot'): string {
  floatInput(b, classInput, shapeOf(b, logits));
  return total(b, b.op('Mul', [logits, classInput]));
}

/** Mean over the batch of the softmax cross-entropy of `logits` [N, C] against a one-hot (or soft) [N, C] target input. */
export function crossEntropy(b: GraphBuilder, logits: string, targetOneHot = 'target_onehot'): string {
  floatInput(b, targetOneHot, shapeOf(b, logits));
  const logProb = b.op('LogSoftmax', [logits], { axis: attr.i(-1) });
  const summed = total(b, b.op('Mul', [logProb, targetOneHot]));
  return b.op('Neg', [b.op('Div', [summed, batchSize(b, logits)])]);
}

/**
 * Σ over the batch of the spatial mean of one channel of `tensor` (NCHW, or channel axis `axis`),
 * the channel chosen by the one-hot [C] input `channelInput` (declared if missing).
 */
export function channelMean(b: GraphBuilder, tensor: string, channelInput = 'channel_onehot', axis = 1): string {
  const shape = shapeOf(b, tensor);
  const a = axis < 0 ? axis + shape.length : axis;
  floatInput(b, channelInput, [shape[a]]);
  const broadcastShape = shape.map((_, i) => (i === a ? -1 : 1));
  const weight = b.op('Reshape', [channelInput, b.constInt64('channel_shape', broadcastShape)]);
  const perImage = b.op('Mul', [tensor, weight]);
  // Spatial area = elements / (N · C), read at run time so any input size works.
  const dims = b.op('Shape', [tensor]);
  const pick = (i: number) => b.op('Gather', [dims, b.constInt64('axis', [i], [])], { axis: attr.i(0) });
  const area = b.op('Div', [b.op('Size', [tensor]), b.op('Mul', [pick(0), pick(a)])]);
  return b.op('Div', [total(b, perImage), b.op('Cast', [area], { to: attr.i(1) })]);
}

/** Σ over the batch of the single activation tensor[:, channel, y, x] (NCHW). */
export function neuron(b: GraphBuilder, tensor: string, channel: number, y: number, x: number): string {
  const picked = b.op('Slice', [tensor, b.constInt64('starts', [channel, y, x]), b.constInt64('ends', [channel + 1, y + 1, x + 1]), b.constInt64('axes', [1, 2, 3])]);
  return total(b, picked);
}

/** Variation loss of an image batch: mean squared difference of vertical neighbours + the same for horizontal ones. */
export function totalVariation(b: GraphBuilder, image: string, layout: 'NCHW' | 'NHWC' = 'NCHW'): string {
  const [hAxis, wAxis] = layout === 'NCHW' ? [2, 3] : [1, 2];
  const meanSquaredStep = (axis: number) => {
    const axes = b.constInt64('axes', [axis]);
    const next = b.op('Slice', [image, b.constInt64('starts', [1]), b.constInt64('ends', [END]), axes]);
    const prev = b.op('Slice', [image, b.constInt64('starts', [0]), b.constInt64('ends', [-1]), axes]);
    const step = b.op('Sub', [next, prev]);
    return b.op('ReduceMean', [b.op('Pow', [step, b.constFloat('two', 2, [])])], KEEP_NONE);
  };
  return b.op('Add', [meanSquaredStep(hAxis), meanSquaredStep(wAxis)]);
}

/** Squared L2 norm: Σ x². */
export function l2(b: GraphBuilder, x: string): string {
  return b.op('ReduceSumSquare', [x], KEEP_NONE);
}

/** Σ wᵢ·tᵢ over scalar terms; a weight is a number (constant) or the name of a scalar graph input (changeable per run). */
export function weightedSum(b: GraphBuilder, terms: [string, string | number][]): string {
  if (terms.length === 0) throw new GraftError('BAD_ARGUMENT', 'weightedSum needs at least one term');
  const scaled = terms.map(([t, w]) => (w === 1 ? t : b.op('Mul', [t, typeof w === 'number' ? b.constFloat('weight', w) : w])));
  return scaled.length === 1 ? scaled[0] : b.op('Sum', scaled);
}
