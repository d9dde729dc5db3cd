/**
 * Quantised (int8/uint8) ONNX graphs: recognising them, and reading any of their tensors as float.
 *
 * A QLinear* graph carries uint8/int8 activations between DequantizeLinear/QuantizeLinear pairs. Feature taps,
 * pooling and heads all want float32, so a tap on a quantised tensor is read through a DequantizeLinear with that
 * tensor's own scale and zero point (the ones its QLinear producer writes, or a consumer reads it with).
 */
import { GraphBuilder } from '../onnx/graph.js';
import { producers } from '../onnx/order.js';
import { inferShapes } from '../onnx/shapes.js';
import type { Graph, Node } from '../onnx/types.js';
import { GraftError } from '../util/errors.js';

/** Ops that compute on quantised integers: no float weights to train and no gradient through them. */
const QUANTISED_OPS = new Set([
  'QuantizeLinear', 'DynamicQuantizeLinear', 'QLinearConv', 'QLinearMatMul', 'ConvInteger', 'MatMulInteger',
  'QLinearAdd', 'QLinearMul', 'QLinearGlobalAveragePool', 'QLinearAveragePool', 'QLinearConcat', 'QLinearLeakyRelu',
  'QLinearSigmoid', 'QLinearSoftmax', 'QGemm', 'QAttention', 'DynamicQuantizeMatMul', 'MatMulIntegerToFloat',
]);

const INTEGER_TYPES = new Set(['uint8', 'int8', 'uint16', 'int16', 'int32']);

/** The quantised ops of a graph (empty for a float graph). */
export function quantisedNodes(g: Graph): Node[] {
  return g.nodes.filter((n) => QUANTISED_OPS.has(n.opType));
}

export function isQuantised(g: Graph): boolean {
  return g.nodes.some((n) => QUANTISED_OPS.has(n.opType));
}

/** A clear refusal for training through a quantised graph (onnxruntime has no gradient for QLinear* ops). */
export function assertDifferentiable(g: Graph, what: string): void {
  const q = quantisedNodes(g);
  if (!q.length) return;
  const kinds = [...new Set(q.map((n) => n.opType))].slice(0, 4).join(', ');
  throw new GraftError(
    'UNSUPPORTED_OP',
    `${what} is quantised (${q.length} integer op(s): ${kinds}): its weights are integers and have no gradients, so it cannot be fine-tuned. ` +
      'Train a head on its frozen features instead (drop --fine-tune), or fine-tune the float model',
  );
}

/**
 * Where the (scale, zero point) of quantised tensor `t` are: the output scale/zero-point inputs of its QLinear producer,
 * else the two inputs that follow `t` in any consumer (every QLinear op and DequantizeLinear takes x, x_scale, x_zero_point).
 */
const OUTPUT_QPARAMS: Record<string, [number, number]> = {
  QuantizeLinear: [1, 2],
  QLinearConv: [6, 7],
  QLinearMatMul: [6, 7],
  QLinearAdd: [6, 7],
  QLinearMul: [6, 7],
  QLinearGlobalAveragePool: [3, 4],
  QLinearAveragePool: [3, 4],
  QLinearLeakyRelu: [3, 4],
  QLinearSigmoid: [3, 4],
};

/** Ops that move quantised values without changing their scale: the quantisation parameters are their input's. */
const PASS_THROUGH = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Transpose', 'Identity', 'MaxPool', 'Relu']);

function quantParams(g: Graph, tensor: string): [string, string] | undefined {
  const prod = producers(g);
  let t = tensor;
  for (let hops = 0; hops < 16; hops++) {
    const consumer = g.nodes.find((n) => {
      const i = n.inputs.indexOf(t);
      return i >= 0 && (n.opType === 'DequantizeLinear' || n.opType.startsWith('QLinear')) && n.inputs[i + 1] && n.inputs[i + 2] !== undefined;
    });
    if (consumer) {
      const i = consumer.inputs.indexOf(t);
      return [consumer.inputs[i + 1], consumer.inputs[i + 2]];
    }
    const p = prod.get(t);
    if (!p) return undefined;
    const slots = OUTPUT_QPARAMS[p.opType];
    if (slots) return [p.inputs[slots[0]], p.inputs[slots[1]]];
    if (!PASS_THROUGH.has(p.opType)) return undefined;
    t = p.inputs[0];
  }
  return undefined;
}

/**
 * `tensor` as float32: itself when it already is, else the output of a DequantizeLinear of it — an existing one
 * when the graph has it, or one added to `g` (named `<tensor>_graft_float`; adding twice reuses it).
 */
export function floatView(g: Graph, tensor: string): string {
  // A float graph has only float activations: skip the shape inference (taps are resolved often, e.g. per layer listed).
  if (!isQuantised(g)) return tensor;
  const dtype = g.initializers.get(tensor)?.dtype ?? inferShapes(g).get(tensor)?.dtype;
  if (!dtype || !INTEGER_TYPES.has(dtype)) return tensor;
  const existing = g.nodes.find((n) => n.opType === 'DequantizeLinear' && n.inputs[0] === tensor);
  if (existing) return existing.outputs[0];
  const name = `${tensor}_graft_float`;
  if (producers(g).has(name)) return name;
  const qp = quantParams(g, tensor);
  if (!qp) throw new GraftError('MODEL_FORMAT', `tensor ${tensor} is ${dtype} and graft cannot find its quantisation scale and zero point to read it as float`);
  new GraphBuilder(g).node('DequantizeLinear', [tensor, ...qp], {}, { name, outputs: [name] });
  return name;
}
