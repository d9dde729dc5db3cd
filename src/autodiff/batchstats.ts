/**
 * BatchNormalization on batch statistics (the composed form src/train/finetune/network.ts emits for training
 * from scratch) differentiated as one unit:
 *   μ = mean(x), c = x − μ, σ² = mean(c²), r = 1/√(σ² + ε), y = c·r·γ + β   (means over N and the spatial axes)
 * Differentiating those ops one by one costs about a dozen activation-sized passes (Expand, Neg, Sum, a Mul per
 * use of c); the closed form needs five:
 *   dβ = Σdy,  dγ = r·Σ(dy·c),  dx = k·dy + c·(−k·r²·Σ(dy·c)/M) − k·Σdy/M   with k = r·γ, M = elements per channel.
 * The forward is also rewritten to y = c·(r·γ) + β: the per-channel product is taken before the
 * activation-sized one, which saves one pass. GRAFT_BNFUSE=0 turns both off (same-run comparisons).
 */
import type { Graph, Node } from '../onnx/types.js';
import { intsAttr, intAttr } from '../onnx/types.js';
import type { GraphBuilder } from '../onnx/graph.js';
import { consumers, producers } from '../onnx/order.js';
import { reduceSum, scalar } from './emit.js';

/** One matched normalisation: the tensors its backward reads and where its gradients go. */
export interface BatchStatNorm {
  x: string;
  centred: string;
  invStd: string;
  /** r·γ, per channel (shape of the broadcast scale). */
  k: string;
  /** The broadcast scale and bias operands of the last Mul and Add (gradients flow on to γ, β from there). */
  scale: string;
  bias: string;
  /** Reduced axes (0 and the spatial ones); kept dimensions. */
  axes: number[];
}

const isDefault = (n: Node) => (n.domain ?? '') === '' || n.domain === 'ai.onnx';

/**
 * Finds the batch-statistics normalisations of `g` whose intermediate tensors feed nothing else, rewrites
 * their scaling as c·(r·γ) in place, and returns them keyed by the node that produces y (its final Add).
 * Tensors in `keep` may be read (graph outputs such as the batch mean) but never fused away.
 */
export function fuseBatchStatistics(g: Graph, b: GraphBuilder, keep: ReadonlySet<string>): Map<Node, BatchStatNorm> {
  const found = new Map<Node, BatchStatNorm>();
  if (process.env.GRAFT_BNFUSE === '0') return found;
  const prod = producers(g);
  const cons = consumers(g);
  const graphOutputs = new Set(g.outputs.map((o) => o.name));
  const only = (t: string, readers: Node[]) => (cons.get(t) ?? []).every((n) => readers.includes(n)) && !keep.has(t);
  const single = (t: string, op: string): Node | undefined => {
    const n = prod.get(t);
    return n && n.opType === op && isDefault(n) ? n : undefined;
  };
  for (const sub of g.nodes) {
    if (sub.opType !== 'Sub' || !isDefault(sub)) continue;
    const [x, meanT] = sub.inputs;
    const centred = sub.outputs[0];
    const meanNode = single(meanT, 'ReduceMean');
    const axes = meanNode && intsAttr(meanNode, 'axes');
    if (!meanNode || meanNode.inputs[0] !== x || !axes || meanNode.inputs.length > 1 || intAttr(meanNode, 'keepdims', 1) !== 1) continue;
    const readers = cons.get(centred) ?? [];
    const square = readers.find((n) => n.opType === 'Mul' && n.inputs[0] === centred && n.inputs[1] === centred);
    const normalise = readers.find((n) => n.opType === 'Mul' && n !== square);
    if (!square || !normalise || readers.length !== 2) continue;
    const varNode = (cons.get(square.outputs[0]) ?? [])[0];
    if (!varNode || varNode.opType !== 'ReduceMean' || String(intsAttr(varNode, 'axes')) !== String(axes) || intAttr(varNode, 'keepdims', 1) !== 1) continue;
    const invStd = normalise.inputs[normalise.inputs[0] === centred ? 1 : 0];
    const recip = single(invStd, 'Reciprocal');
    const sqrt = recip && single(recip.inputs[0], 'Sqrt');
    const addEps = sqrt && single(sqrt.inputs[0], 'Add');
    if (!recip || !sqrt || !addEps || !addEps.inputs.includes(varNode.outputs[0])) continue;
    const scaleMul = (cons.get(normalise.outputs[0]) ?? [])[0];
    if (!scaleMul || scaleMul.opType !== 'Mul' || !isDefault(scaleMul)) continue;
    const scale = scaleMul.inputs[scaleMul.inputs[0] === normalise.outputs[0] ? 1 : 0];
    const biasAdd = (cons.get(scaleMul.outputs[0]) ?? [])[0];
    if (!biasAdd || biasAdd.opType !== 'Add' || !isDefault(biasAdd)) continue;
    const bias = biasAdd.inputs[biasAdd.inputs[0] === scaleMul.outputs[0] ? 1 : 0];
    // The fused backward replaces the gradients of every intermediate: none may reach the objective another way.
    const inside = [meanNode, sub, square, varNode, addEps, sqrt, recip, normalise, scaleMul, biasAdd];
    const hidden: [string, Node[]][] = [
      [centred, [square, normalise]], [square.outputs[0], [varNode]], [addEps.outputs[0], [sqrt]], [sqrt.outputs[0], [recip]],
      [normalise.outputs[0], [scaleMul]], [scaleMul.outputs[0], [biasAdd]],
    ];
    // The batch mean, variance and 1/σ may also be outputs (running statistics): outputs carry no gradient.
    const readable: [string, Node[]][] = [[meanT, [sub]], [varNode.outputs[0], [addEps]], [invStd, [normalise]]];
    if (!hidden.every(([t, r]) => only(t, r) && !graphOutputs.has(t)) || !readable.every(([t, r]) => (cons.get(t) ?? []).every((n) => r.includes(n)))) continue;
    if ([scale, bias].some((t) => prod.get(t) && inside.includes(prod.get(t)!))) continue;
    // y = c·k + β with k = r·γ: rewrite the two Muls in place (their outputs keep their names).
    const k = b.op('Mul', [invStd, scale], {}, `${biasAdd.name}/k`);
    const kNode = g.nodes.pop()!;
    g.nodes.splice(g.nodes.indexOf(normalise), 0, kNode);
    normalise.inputs = [centred, k];
    scaleMul.opType = 'Identity';
    scaleMul.inputs = [normalise.outputs[0]];
    found.set(biasAdd, { x, centred, invStd, k, scale, bias, axes });
  }
  return found;
}

/** Gradients of x, the broadcast scale and the broadcast bias of one fused normalisation from dy. */
export function batchStatisticsGrad(b: GraphBuilder, n: BatchStatNorm, dy: string, xShape: number[], needs: { x: boolean; scale: boolean; bias: boolean }): { x?: string; scale?: string; bias?: string } {
  const count = n.axes.reduce((p, a) => p * xShape[a], 1);
  const sumDy = reduceSum(b, dy, n.axes, true);
  const sumDyC = needs.x || needs.scale ? reduceSum(b, b.op('Mul', [dy, n.centred]), n.axes, true) : '';
  const out: { x?: string; scale?: string; bias?: string } = {};
  if (needs.bias) out.bias = sumDy;
  if (needs.scale) out.scale = b.op('Mul', [sumDyC, n.invStd]);
  if (needs.x) {
    const negKOverM = b.op('Mul', [n.k, scalar(b, -1 / count)]);
    const cCoef = b.op('Mul', [b.op('Mul', [negKOverM, sumDyC]), b.op('Mul', [n.invStd, n.invStd])]);
    const shift = b.op('Mul', [negKOverM, sumDy]);
    out.x = b.op('Add', [b.op('Add', [b.op('Mul', [dy, n.k]), b.op('Mul', [n.centred, cCoef])]), shift], {}, 'bn_dX');
  }
  return out;
}
