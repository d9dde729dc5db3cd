/** The pre-softmax class scores of a classifier, as an [N, C] tensor name that objectives can differentiate. */
import type { Graph } from '../onnx/types.js';
import { attr } from '../onnx/types.js';
import type { GraphBuilder } from '../onnx/graph.js';
import { producers } from '../onnx/order.js';
import { inferShapes, type TensorInfo } from '../onnx/shapes.js';
import { GraftError } from '../util/errors.js';
import type { GraftModel } from './load.js';

/** Name of the Flatten output added when the logits are [N, C, 1, 1]. */
export const FLAT_LOGITS = 'graft_logits';

const SHAPE_ONLY = new Set(['Reshape', 'Flatten', 'Identity', 'Squeeze']);

/**
 * The logits tensor of `m` as [N, C]: the output itself for logit models, the Softmax input for probability
 * models. When that tensor has extra unit dims (e.g. [N, C, 1, 1]) a Flatten node is appended (once) to `b`'s
 * graph — the builder's graph (an objective's copy), never `m.model.graph`. `shapes`, when the caller has
 * inferred them already (GradientRunner's ObjectiveContext), saves inferring the graph again.
 */
export function logitsTensor(m: GraftModel, b: GraphBuilder, shapes?: Map<string, TensorInfo>): string {
  const graph = b.graph;
  const source = m.output === 'logits' ? m.outputName : softmaxInput(graph, m);
  const rank = (shapes ?? inferShapes(graph)).get(source)?.shape?.length;
  if (rank === 2) return source;
  if (producers(graph).has(FLAT_LOGITS)) return FLAT_LOGITS;
  b.node('Flatten', [source], { axis: attr.i(1) }, { outputs: [FLAT_LOGITS], name: 'graft_flatten_logits' });
  return FLAT_LOGITS;
}

function softmaxInput(graph: Graph, m: GraftModel): string {
  const prod = producers(graph);
  let node = prod.get(m.outputName);
  while (node && SHAPE_ONLY.has(node.opType)) node = prod.get(node.inputs[0]);
  if (node?.opType !== 'Softmax') {
    throw new GraftError(
      'MODEL_FORMAT',
      `${m.id}: output "${m.outputName}" holds probabilities but no Softmax node produces it (found ${node ? node.opType : 'a graph input'}); gradients need the pre-softmax logits`,
    );
  }
  return node.inputs[0];
}
