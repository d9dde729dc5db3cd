/** The pre-softmax class scores of a classifier, as an [N, C] tensor name that objectives can differentiate. */
import type { Graph } from '../onnx/types.js';
import { attr } from '../onnx/types.js';
import { GraphBuilder } from '../onnx/graph.js';
import { producers } from '../onnx/order.js';
import { inferShapes } from '../onnx/shapes.js';
import { GraftError } from '../util/errors.js';
import type { GraftModel } from './load.js';

/** Name of the Flatten output added when the logits are [N, C, 1, 1]. */
export const FLAT_LOGITS = 'graft_logits';

const SHAPE_ONLY = new Set(['Reshape', 'Flatten', 'Identity', 'Squeeze']);

/**
 * The logits tensor of `m` as [N, C]: the output itself for logit models, the Softmax input for probability
 * models. When that tensor has extra unit dims (e.g. [N, C, 1, 1]) a Flatten node is appended (once) to
 * `b`'s graph, or to `m.model.graph` when no builder is given — so call it before GradientRunner.create
 * (which clones the model graph), or pass the objective's builder.
 */
export function logitsTensor(m: GraftModel, b?: GraphBuilder): string {
  const graph = b?.graph ?? m.model.graph;
  const source = m.output === 'logits' ? m.outputName : softmaxInput(graph, m);
  const rank = inferShapes(graph).get(source)?.shape?.length;
  if (rank === 2) return source;
  if (producers(graph).has(FLAT_LOGITS)) return FLAT_LOGITS;
  const builder = b ?? new GraphBuilder(graph);
  builder.node('Flatten', [source], { axis: attr.i(1) }, { outputs: [FLAT_LOGITS], name: 'graft_flatten_logits' });
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
