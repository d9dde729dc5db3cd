/** Constant folding of shape arithmetic: nodes whose outputs are statically known become initializers. */
import type { Dim, Model, Node, Tensor } from './types.js';
import { inferShapes, nums } from './shapes.js';
import { cloneGraph, pruneUnused } from './graph.js';
import { allocTensorData } from './codec.js';

const FOLDABLE = new Set([
  'Constant', 'Shape', 'Size', 'Gather', 'Unsqueeze', 'Squeeze', 'Concat', 'Cast', 'Slice', 'ConstantOfShape',
  'Range', 'Add', 'Sub', 'Mul', 'Div', 'Max', 'Min', 'Reshape', 'Identity',
]);

/**
 * Folds the Shape/Gather/Unsqueeze/Concat chains of PyTorch exports (and Constant nodes) into initializers.
 * With `inputShapes` (e.g. a fixed batch), chains that depend on the batch dimension fold too.
 */
export function foldConstants(model: Model, inputShapes: Record<string, Dim[]> = {}): { model: Model; folded: number } {
  const g = cloneGraph(model.graph);
  const info = inferShapes(g, inputShapes);
  const kept: Node[] = [];
  let folded = 0;
  for (const node of g.nodes) {
    const outs = node.outputs.map((o) => info.get(o));
    const foldable = FOLDABLE.has(node.opType) && outs.length > 0 && outs.every((o) => nums(o?.value) && o!.shape?.every((d) => typeof d === 'number'));
    if (!foldable) {
      kept.push(node);
      continue;
    }
    node.outputs.forEach((name, k) => {
      const o = outs[k]!;
      const values = nums(o.value)!;
      const data = allocTensorData(o.dtype, values.length);
      values.forEach((v, i) => {
        if (data instanceof BigInt64Array || data instanceof BigUint64Array) data[i] = BigInt(Math.trunc(v));
        else (data as Float32Array)[i] = v;
      });
      const t: Tensor = { name, dtype: o.dtype, dims: o.shape as number[], data };
      g.initializers.set(name, t);
    });
    folded++;
  }
  g.nodes = kept;
  return { model: { ...model, graph: pruneUnused(g) }, folded };
}
