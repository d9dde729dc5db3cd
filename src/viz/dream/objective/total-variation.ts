/**
 * Total variation as tf.image.total_variation defines it (the lesson's regulariser): the sum of absolute
 * differences of vertically and horizontally neighbouring values of the network input.
 */
import { weightedSum } from '../../../autodiff/objectives.js';
import type { GraphBuilder } from '../../../onnx/graph.js';
import { attr } from '../../../onnx/types.js';
import type { DreamObjective } from './objective.js';

/** "To the end" for Slice ends. */
const END = 2 ** 31 - 1;

/** Σ |x[i+1] − x[i]| along the height and width axes of an image batch. */
export function absoluteTotalVariation(b: GraphBuilder, image: string, layout: 'NCHW' | 'NHWC'): string {
  const axes = layout === 'NCHW' ? [2, 3] : [1, 2];
  const terms = axes.map((axis) => {
    const along = b.constInt64('tv_axis', [axis]);
    const next = b.op('Slice', [image, b.constInt64('tv_start', [1]), b.constInt64('tv_end', [END]), along]);
    const prev = b.op('Slice', [image, b.constInt64('tv_start', [0]), b.constInt64('tv_end', [-1]), along]);
    return b.op('ReduceSum', [b.op('Abs', [b.op('Sub', [next, prev])])], { keepdims: attr.i(0) });
  });
  return b.op('Add', terms);
}

/** Adds weight · total variation of the network input to an objective. */
export function withTotalVariation(objective: DreamObjective, weight: number, layout: 'NCHW' | 'NHWC'): DreamObjective {
  if (weight === 0) return objective;
  return {
    build: (b, input, ctx) => weightedSum(b, [[objective.build(b, input, ctx), 1], [absoluteTotalVariation(b, input, layout), weight]]),
    feeds: objective.feeds,
  };
}
