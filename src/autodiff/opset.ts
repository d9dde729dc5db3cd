/** Brings a model of opset 11–16 up to opset 17, the level the backward graph needs (ScatterElements reduction). */
import type { Graph, Model, Node } from '../onnx/types.js';
import { attr, intAttr, intsAttr, opsetOf } from '../onnx/types.js';
import { GraphBuilder, cloneGraph } from '../onnx/graph.js';
import { describeNode } from '../onnx/order.js';
import { inferShapes } from '../onnx/shapes.js';
import { GraftError } from '../util/errors.js';

export const GRADIENT_OPSET = 17;
const OLDEST_SUPPORTED = 11;

/** Ops whose `axes`/`split` attribute became an input at opset 13. */
const ATTRIBUTE_TO_INPUT: Record<string, string> = { Squeeze: 'axes', Unsqueeze: 'axes', ReduceSum: 'axes', Split: 'split' };

/**
 * Returns the model at opset ≥ 17 (unchanged if already there). From opset 11/12 it rewrites the ops whose
 * signature changed at 13 (axes/split inputs, Softmax's flatten-to-2D semantics) and Dropout (ratio input at 12).
 * `inputShapes` fixes input dims, needed only when a pre-13 Softmax works on a non-last axis.
 */
export function upgradeOpset(model: Model, inputShapes: Record<string, number[]> = {}): Model {
  const from = opsetOf(model);
  if (from >= GRADIENT_OPSET) return model;
  if (from < OLDEST_SUPPORTED) throw new GraftError('MODEL_FORMAT', `model opset ${from} is too old for gradients (need ≥ ${OLDEST_SUPPORTED}); re-export it with a newer opset`);
  const graph = upgradeGraph(model.graph, from, inputShapes);
  const opsetImports = model.opsetImports.map((o) => (o.domain === '' || o.domain === 'ai.onnx' ? { ...o, version: GRADIENT_OPSET } : o));
  return { ...model, irVersion: Math.max(model.irVersion, 8), opsetImports, graph };
}

function upgradeGraph(source: Graph, from: number, inputShapes: Record<string, number[]>): Graph {
  const g = cloneGraph(source);
  const b = new GraphBuilder(g);
  const nodes = g.nodes;
  g.nodes = [];
  let shapes: ReturnType<typeof inferShapes> | undefined;
  for (const node of nodes) {
    const attrName = ATTRIBUTE_TO_INPUT[node.opType];
    if (from < 13 && attrName && node.attributes[attrName]) {
      const values = intsAttr(node, attrName)!;
      const { [attrName]: _moved, ...rest } = node.attributes;
      const inputs = [node.inputs[0], b.constInt64(attrName, values)];
      g.nodes.push({ ...node, inputs, attributes: rest });
    } else if (from < 13 && (node.opType === 'Softmax' || node.opType === 'LogSoftmax')) {
      shapes ??= inferShapes(source, inputShapes);
      g.nodes.push(...coerceSoftmax(b, node, shapes.get(node.inputs[0])?.shape?.length));
    } else if (from < 12 && node.opType === 'Dropout') {
      g.nodes.push({ ...node, opType: 'Identity', inputs: [node.inputs[0]], outputs: [node.outputs[0]], attributes: {} });
    } else {
      g.nodes.push(node);
    }
  }
  return g;
}

/** Pre-13 Softmax flattens to 2-D at `axis` (default 1); at 13 it works on one axis. Same result when axis is the last one. */
function coerceSoftmax(b: GraphBuilder, node: Node, rank: number | undefined): Node[] {
  if (rank === undefined) throw new GraftError('SHAPE', `cannot upgrade ${describeNode(node)} to opset 13: the rank of its input is unknown`);
  const axis = intAttr(node, 'axis', 1);
  const a = axis < 0 ? axis + rank : axis;
  if (a === rank - 1) return [{ ...node, attributes: { ...node.attributes, axis: attr.i(-1) } }];
  const x = node.inputs[0];
  const flat = b.name(`${node.name}_flat`);
  const soft = b.name(`${node.name}_2d`);
  const shape = b.name(`${node.name}_shape`);
  return [
    { name: b.name(`${node.name}_flatten`), opType: 'Flatten', inputs: [x], outputs: [flat], attributes: { axis: attr.i(a) } },
    { ...node, inputs: [flat], outputs: [soft], attributes: { axis: attr.i(-1) } },
    { name: b.name(`${node.name}_shapeof`), opType: 'Shape', inputs: [x], outputs: [shape], attributes: {} },
    { name: b.name(`${node.name}_restore`), opType: 'Reshape', inputs: [soft, shape], outputs: [node.outputs[0]], attributes: {} },
  ];
}
