/**
 * Gradients w.r.t. an intermediate tensor: add a zero-valued graph input ("probe") to it and reroute its
 * consumers through the sum — the gradient w.r.t. the probe is the gradient w.r.t. the tensor.
 */
import type { GraphBuilder } from '../../onnx/graph.js';
import type { TensorInfo } from '../../onnx/shapes.js';
import { GraftError } from '../../util/errors.js';

export interface Probe {
  /** The graph input to feed zeros to and differentiate with respect to. */
  input: string;
  dims: number[];
}

/** Inserts a probe on `tensor`; `shapes` are the graph's inferred shapes at concrete input dims (so the probe's is concrete). */
export function addProbe(b: GraphBuilder, tensor: string, shapes: Map<string, TensorInfo>): Probe {
  const shape = shapes.get(tensor)?.shape;
  if (!shape || !shape.every((d): d is number => typeof d === 'number')) {
    throw new GraftError('SHAPE', `cannot probe tensor "${tensor}": its shape is unknown (${shape ? shape.join('×') : 'no shape'})`);
  }
  const input = b.input(b.name(`${tensor}_probe`), 'float32', shape);
  const probed = b.op('Add', [tensor, input], {}, `${tensor}_probed`);
  for (const node of b.graph.nodes) {
    if (node.outputs.includes(probed)) continue;
    node.inputs = node.inputs.map((i) => (i === tensor ? probed : i));
  }
  b.graph.outputs = b.graph.outputs.map((o) => (o.name === tensor ? { ...o, name: probed } : o));
  return { input, dims: shape };
}
