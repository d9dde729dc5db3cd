/**
 * Test-time augmentation for any classifier: the same graph, fed each image and its mirror image in one batch,
 * whose output is the mean of the two probability vectors. Exported files that already bake TTA in
 * (`graft.tta` = flip) are left as they are.
 */
import { GraphBuilder, cloneGraph } from '../onnx/graph.js';
import { attr } from '../onnx/types.js';
import type { GraftModel } from '../models/load.js';
import { GraftError } from '../util/errors.js';

export type TtaMode = 'none' | 'flip';

export function withTta(m: GraftModel, mode: TtaMode): GraftModel {
  if (mode === 'none' || m.model.metadata['graft.tta'] === 'flip') return m;
  if (mode !== 'flip') throw new GraftError('BAD_ARGUMENT', `--tta ${String(mode)}: expected none or flip`);
  const graph = cloneGraph(m.model.graph);
  const b = new GraphBuilder(graph);
  const original = graph.nodes.slice();
  const widthAxis = m.preprocess.layout === 'NHWC' ? 2 : 3;
  const mirrored = b.op('Slice', [m.inputName, b.constInt64('tta_starts', [-1]), b.constInt64('tta_ends', [Number.MIN_SAFE_INTEGER]), b.constInt64('tta_axes', [widthAxis]), b.constInt64('tta_steps', [-1])], {}, 'tta_mirror');
  const both = b.op('Concat', [m.inputName, mirrored], { axis: attr.i(0) }, 'tta_batch');
  for (const n of original) n.inputs = n.inputs.map((i) => (i === m.inputName ? both : i));
  // Renaming the output's producer keeps every consumer inside the graph on the doubled batch.
  const internal = b.name(`${m.outputName}_tta_both`);
  for (const n of original) {
    n.outputs = n.outputs.map((o) => (o === m.outputName ? internal : o));
    n.inputs = n.inputs.map((i) => (i === m.outputName ? internal : i));
  }
  const [plain, flipped] = b.node('Split', [internal], { axis: attr.i(0) }, { name: 'tta_split', outputs: 2 });
  const probs = m.output === 'logits' ? [plain, flipped].map((t) => b.op('Softmax', [t], { axis: attr.i(1) }, 'tta_softmax')) : [plain, flipped];
  const mean = b.op('Mul', [b.op('Add', probs, {}, 'tta_sum'), b.constFloat('tta_half', 0.5)], {}, 'tta_mean');
  b.node('Identity', [mean], {}, { name: 'tta_out', outputs: [m.outputName] });
  graph.outputs = graph.outputs.filter((o) => o.name === m.outputName);
  // The new nodes read the original input, so they go first (Slice, Concat) or last (the rest) in topological order.
  const added = graph.nodes.slice(original.length);
  graph.nodes = [...added.slice(0, 2), ...original, ...added.slice(2)];
  return { ...m, model: { ...m.model, graph, metadata: { ...m.model.metadata, 'graft.tta': 'flip' } }, output: 'probabilities' };
}
