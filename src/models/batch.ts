/**
 * A symbolic batch axis for imported models. Many exported ONNX files fix the batch at 1: in the input's
 * declared shape, in the outputs', and in Reshape targets traced as constants (`[1, -1]`). onnxruntime then
 * refuses any other batch size, and graft's training graphs (whose label inputs take the logits' inferred shape)
 * inherit the 1. Rewriting those places lets the same model predict and train at any batch size.
 */
import { producers, topoSort } from '../onnx/order.js';
import { inferShapes } from '../onnx/shapes.js';
import { intAttr } from '../onnx/types.js';
import type { Dim, Graph, Model, Tensor } from '../onnx/types.js';

export const BATCH_DIM = 'N';

const isKnown = (d: Dim | undefined): d is number => typeof d === 'number';

/**
 * Makes the model's batch axis symbolic, in place: the first graph input's leading 1 becomes `N`, every Reshape
 * whose data carries that batch and whose constant target starts with a hard 1 copies it instead (target 0), and
 * declared output / value shapes follow. A model whose batch is already symbolic gets only its Reshapes checked.
 * Returns the names of the Reshape nodes it rewrote.
 */
export function symbolicBatch(model: Model): string[] {
  const g = model.graph;
  const initialized = new Set(g.initializers.keys());
  const input = g.inputs.find((i) => !initialized.has(i.name));
  if (!input?.shape?.length) return [];
  if (input.shape[0] === 1) input.shape = [BATCH_DIM, ...input.shape.slice(1)];
  if (isKnown(input.shape[0])) return [];
  const rewritten: string[] = [];
  // A rewrite can free the batch of a later Reshape's data, so re-infer after each one (graphs have a handful at most).
  for (let guard = 0; guard < 256; guard++) {
    const shapes = inferShapes(g);
    const node = topoSort(g).find((n) => n.opType === 'Reshape' && hardBatchTarget(g, n.inputs[1]) && intAttr(n, 'allowzero', 0) === 0 && !isKnown(shapes.get(n.inputs[0])?.shape?.[0]));
    if (!node) break;
    copyBatchInTarget(g, node.inputs, 1);
    rewritten.push(node.name || node.outputs[0]);
  }
  const shapes = inferShapes(g);
  const followInference = (v: { name: string; shape?: Dim[] }): void => {
    const inferred = shapes.get(v.name)?.shape?.[0];
    if (v.shape?.length && v.shape[0] === 1 && !isKnown(inferred)) v.shape = [inferred ?? BATCH_DIM, ...v.shape.slice(1)];
  };
  g.outputs.forEach(followInference);
  g.valueInfo.forEach(followInference);
  return rewritten;
}

/** Whether `name` is a constant int64 shape (initializer or Constant node) whose first entry is 1. */
function hardBatchTarget(g: Graph, name: string | undefined): boolean {
  const t = name ? constantOf(g, name) : undefined;
  return !!t && t.dims.length === 1 && t.dims[0] >= 2 && Number((t.data as BigInt64Array)[0]) === 1;
}

function constantOf(g: Graph, name: string): Tensor | undefined {
  const init = g.initializers.get(name);
  if (init) return init.dtype === 'int64' ? init : undefined;
  const node = producers(g).get(name);
  const value = node?.opType === 'Constant' ? node.attributes.value : undefined;
  return value?.type === 'tensor' && value.value.dtype === 'int64' ? value.value : undefined;
}

/** Replaces inputs[slot] by a fresh initializer equal to it with a leading 0 ("copy the input's dim"): the original may be shared. */
function copyBatchInTarget(g: Graph, inputs: string[], slot: number): void {
  const old = constantOf(g, inputs[slot])!;
  const data = BigInt64Array.from(old.data as BigInt64Array);
  data[0] = 0n;
  let name = `${inputs[slot]}_graft_batch`;
  for (let k = 1; g.initializers.has(name); k++) name = `${inputs[slot]}_graft_batch${k}`;
  g.initializers.set(name, { name, dtype: 'int64', dims: [...old.dims], data });
  inputs[slot] = name;
}
