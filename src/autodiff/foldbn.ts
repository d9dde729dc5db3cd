/**
 * Folds inference-mode BatchNormalization into the preceding Conv when every parameter involved is a constant
 * (no gradient is taken with respect to it): y = s·(W∗x + B − mean) + β with s = γ/√(var + ε) is the Conv with
 * weights s·W and bias s·(B − mean) + β. The backward graph then has no per-channel multiply per BN layer, and
 * onnxruntime can fuse Conv + activation in the forward part.
 * When the Conv weight, its bias, γ or β is differentiated (fine-tuning with frozen running statistics), the same
 * fold is done inside the graph on the weight-sized tensors: W' = W·s, B' = (B − mean)·s + β, s = γ/√(var + ε).
 * The activation-sized BatchNormalization and its backward pass disappear; the gradients of W, B, γ and β come
 * from cheap products over the weights. GRAFT_BNFOLD=0 keeps BatchNormalization there (same-run comparisons).
 */
import type { Graph, Node, Tensor } from '../onnx/types.js';
import { GraphBuilder } from '../onnx/graph.js';
import { consumers, producers } from '../onnx/order.js';
import { floatAttr, intAttr } from '../onnx/types.js';

const isDefaultDomain = (n: Node) => (n.domain ?? '') === '' || n.domain === 'ai.onnx';

/**
 * Returns a graph in which each foldable Conv → BatchNormalization pair is one Conv writing the BN output.
 * Tensors in `keep` (e.g. the objective, requested outputs) are never folded away; `g` is not modified.
 */
export function foldBatchNorms(g: Graph, keep: ReadonlySet<string>): Graph {
  const used = consumers(g);
  const producerOf = producers(g);
  const outputs = new Set(g.outputs.map((o) => o.name));
  const b = new GraphBuilder({ ...g, nodes: [...g.nodes], initializers: new Map(g.initializers) });
  const constant = (name: string | undefined): Tensor | undefined => {
    const t = name ? b.graph.initializers.get(name) : undefined;
    return t?.dtype === 'float32' && !g.inputs.some((i) => i.name === name) ? t : undefined;
  };
  const replaced = new Map<Node, Node>();
  const added = new Map<Node, Node[]>();
  const removed = new Set<Node>();
  for (const bn of g.nodes) {
    if (bn.opType !== 'BatchNormalization' || !isDefaultDomain(bn) || intAttr(bn, 'training_mode', 0) === 1 || bn.outputs.filter(Boolean).length !== 1) continue;
    const convOut = bn.inputs[0];
    const conv = producerOf.get(convOut);
    if (!conv || conv.opType !== 'Conv' || !isDefaultDomain(conv) || replaced.has(conv)) continue;
    if ((used.get(convOut)?.length ?? 0) !== 1 || keep.has(convOut) || outputs.has(convOut)) continue;
    const w = constant(conv.inputs[1]);
    const bias = conv.inputs[2] ? constant(conv.inputs[2]) : undefined;
    const [gamma, beta, mean, variance] = bn.inputs.slice(1).map(constant);
    const eps = floatAttr(bn, 'epsilon', 1e-5);
    if (mean && variance && (!w || (conv.inputs[2] && !bias) || !gamma || !beta)) {
      if (process.env.GRAFT_BNFOLD === '0') continue;
      const folded = foldInGraph(b, conv, bn, mean, variance, eps, g);
      if (!folded) continue;
      replaced.set(conv, folded.conv);
      added.set(conv, folded.nodes);
      removed.add(bn);
      continue;
    }
    if (!w || (conv.inputs[2] && !bias) || !gamma || !beta || !mean || !variance) continue;
    const cout = w.dims[0];
    if ([gamma, beta, mean, variance].some((t) => t.data.length !== cout)) continue;
    const wData = w.data as Float32Array;
    const perOut = wData.length / cout;
    const folded = new Float32Array(wData.length);
    const shift = new Float32Array(cout);
    for (let o = 0; o < cout; o++) {
      const s = (gamma.data[o] as number) / Math.sqrt((variance.data[o] as number) + eps);
      for (let k = o * perOut; k < (o + 1) * perOut; k++) folded[k] = wData[k] * s;
      shift[o] = (((bias?.data[o] as number | undefined) ?? 0) - (mean.data[o] as number)) * s + (beta.data[o] as number);
    }
    const wName = b.initializer({ name: `${w.name}_bnfold`, dtype: 'float32', dims: w.dims, data: folded });
    const bName = b.initializer({ name: `${bn.outputs[0]}_bnfold_bias`, dtype: 'float32', dims: [cout], data: shift });
    replaced.set(conv, { ...conv, inputs: [conv.inputs[0], wName, bName], outputs: [bn.outputs[0]], attributes: { ...conv.attributes } });
    removed.add(bn);
  }
  if (removed.size === 0) return g;
  const nodes = g.nodes.filter((n) => !removed.has(n)).flatMap((n) => [...(added.get(n) ?? []), replaced.get(n) ?? n]);
  return { ...g, nodes, initializers: b.graph.initializers };
}

/**
 * The in-graph fold: nodes computing W' and B' from the (differentiated) W, B, γ, β and the constant running
 * statistics, and the Conv reading them. Undefined when a shape it needs is not declared.
 */
function foldInGraph(b: GraphBuilder, conv: Node, bn: Node, mean: Tensor, variance: Tensor, eps: number, g: Graph): { conv: Node; nodes: Node[] } | undefined {
  const cout = mean.data.length;
  const wName = conv.inputs[1];
  const wRank = g.inputs.find((i) => i.name === wName)?.shape?.length ?? b.graph.initializers.get(wName)?.dims.length;
  if (!wRank || variance.data.length !== cout) return undefined;
  const start = b.graph.nodes.length;
  const [, gamma, beta] = bn.inputs;
  const invStd = b.constFloat(`${bn.name}_inv_std`, Array.from(variance.data as Float32Array, (v) => 1 / Math.sqrt(v + eps)), [cout]);
  const s = b.op('Mul', [gamma, invStd], {}, `${bn.name}/fold_scale`);
  const w = b.op('Mul', [wName, b.op('Reshape', [s, b.constInt64('fold_shape', [cout, ...Array(wRank - 1).fill(1)])])], {}, `${bn.name}/fold_W`);
  const meanName = b.constFloat(`${bn.name}_mean`, Array.from(mean.data as Float32Array), [cout]);
  const centredBias = conv.inputs[2] ? b.op('Sub', [conv.inputs[2], meanName]) : b.op('Neg', [meanName]);
  const bias = b.op('Add', [b.op('Mul', [centredBias, s]), beta], {}, `${bn.name}/fold_B`);
  const nodes = b.graph.nodes.splice(start);
  return { conv: { ...conv, inputs: [conv.inputs[0], w, bias], outputs: [bn.outputs[0]], attributes: { ...conv.attributes } }, nodes };
}
