import type { GraphBuilder } from '../../../onnx/graph.js';
import type { ObjectiveContext } from '../../../autodiff/index.js';

/** A value fed to a graph input the objective declares. */
export interface ObjectiveFeed { dims: number[]; data: Float32Array }

/** A dream objective: loss terms (to minimise) appended to the model graph, on the network input tensor. */
export interface DreamObjective {
  /** Appends the loss and returns the name of its scalar tensor; ctx gives the model's shapes, inferred once. */
  build(b: GraphBuilder, input: string, ctx: ObjectiveContext): string;
  /** Graph inputs declared by build(), with their values. */
  feeds: Record<string, ObjectiveFeed>;
}

/** One-hot vector of length n. */
export function oneHot(n: number, index: number): Float32Array {
  const v = new Float32Array(n);
  v[index] = 1;
  return v;
}
