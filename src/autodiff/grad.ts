/** The reverse-mode engine: walks the forward graph backwards from an objective and appends the gradient graph. */
import type { DType, Dim, Graph, Model, Node } from '../onnx/types.js';
import { attr } from '../onnx/types.js';
import { GraphBuilder, cloneGraph, pruneUnused } from '../onnx/graph.js';
import { topoSort } from '../onnx/order.js';
import { inferShapes } from '../onnx/shapes.js';
import { GraftError } from '../util/errors.js';
import { GRADIENT_RULES } from './rules.js';
import type { GradContext } from './context.js';
import { filled, unbroadcast } from './emit.js';
import { batchStatisticsGrad, fuseBatchStatistics } from './batchstats.js';
import { foldBatchNorms } from './foldbn.js';
import { upgradeOpset } from './opset.js';

export interface GradientOptions {
  /** A tensor of the graph: a scalar, or any shape (its elements are summed, e.g. a per-image [N] loss). */
  objective: string;
  /** Graph inputs and/or initializer names to differentiate with respect to. */
  wrt: string[];
  /** Concrete shapes of the graph inputs (the backward graph is built for these shapes). */
  inputShapes: Record<string, number[]>;
  /** Forward tensors to output as well, e.g. logits. */
  keepOutputs?: string[];
}

export interface GradientModel {
  /** Outputs: the objective, one gradient per wrt tensor, then keepOutputs. */
  model: Model;
  /** wrt name → name of the output holding its gradient. */
  gradOutputs: Record<string, string>;
  /** Name of the scalar objective output (the sum, if the objective was not a scalar). */
  objectiveOutput: string;
  /** Initializers that became graph inputs (feed their current values on every run). */
  paramInputs: string[];
}

const DIFFERENTIABLE = new Set<DType>(['float32', 'float64', 'float16']);

/** Builds a model computing the objective and its gradients with respect to `wrt`. */
export function buildGradientModel(model: Model, opts: GradientOptions): GradientModel {
  const { objective, wrt } = opts;
  const inputShapes: Record<string, number[]> = { ...opts.inputShapes };
  const paramInputs: string[] = [];
  const lifted = cloneGraph(model.graph);
  for (const name of wrt) {
    const init = lifted.initializers.get(name);
    if (init) {
      lifted.initializers.delete(name);
      if (!lifted.inputs.some((i) => i.name === name)) lifted.inputs.push({ name, dtype: init.dtype, shape: init.dims });
      inputShapes[name] = init.dims;
      paramInputs.push(name);
    } else if (!lifted.inputs.some((i) => i.name === name)) {
      throw new GraftError('UNKNOWN_TENSOR', `cannot differentiate with respect to "${name}": it is neither a graph input nor an initializer`);
    }
  }
  const upgraded = upgradeOpset({ ...model, graph: lifted }, inputShapes);
  const keep = new Set([objective, ...(opts.keepOutputs ?? [])]);
  const g = cloneGraph(foldBatchNorms(upgraded.graph, keep));
  const b = new GraphBuilder(g);
  const fusedNorms = fuseBatchStatistics(g, b, keep);
  const info = inferShapes(g, inputShapes);
  if (!info.has(objective)) throw new GraftError('UNKNOWN_TENSOR', `objective tensor "${objective}" is not in the graph`);

  const shape = (name: string): number[] => {
    const known = numbers(info.get(name)?.shape);
    if (!known) {
      const failure = info.get(name)?.failure;
      throw new GraftError('SHAPE', `cannot infer a static shape for tensor "${name}"; ${failure ?? 'give inputShapes for every graph input'}`);
    }
    return known;
  };
  const order = topoSort(g);
  const active = activeTensors(order, wrt, (t) => DIFFERENTIABLE.has(info.get(t)?.dtype ?? 'float32'));

  const contributions = new Map<string, string[]>();
  const gradOf = (t: string): string | undefined => {
    const list = contributions.get(t);
    if (!list) return undefined;
    if (list.length > 1) contributions.set(t, [b.op('Sum', list, {}, `${t}_grad_sum`)]);
    return contributions.get(t)![0];
  };
  const objShape = shape(objective);
  /** Adds one term to the gradient of `t` (summed when gradOf(t) is first asked for). */
  const contribute = (t: string, d: string) => {
    const list = contributions.get(t);
    if (list) list.push(d);
    else contributions.set(t, [d]);
  };
  contributions.set(objective, [filled(b, objShape, 1)]);

  for (const node of nodesToObjective(order, objective, active).reverse()) {
    const dy = node.outputs.map((o) => (active.has(o) ? gradOf(o) : undefined));
    if (dy.every((d) => d === undefined)) continue;
    const fused = fusedNorms.get(node);
    if (fused && dy[0]) {
      const keptShape = shape(fused.invStd);
      const grads = batchStatisticsGrad(b, fused, dy[0], shape(fused.x), { x: active.has(fused.x), scale: active.has(fused.scale), bias: active.has(fused.bias) });
      for (const [input, d] of [[fused.x, grads.x], [fused.scale, grads.scale], [fused.bias, grads.bias]] as const) {
        if (!d) continue;
        contribute(input, input === fused.x ? d : unbroadcast(b, d, keptShape, shape(input)));
      }
      continue;
    }
    const rule = (node.domain ?? '') === '' || node.domain === 'ai.onnx' ? GRADIENT_RULES[node.opType] : undefined;
    if (!rule) throw new GraftError('UNSUPPORTED_OP', `no gradient rule for op ${node.opType} (node "${node.name}")`);
    const needs = node.inputs.map((i) => !!i && active.has(i));
    const ctx: GradContext = {
      b, node, dy, needs, shape,
      dtype: (name) => info.get(name)?.dtype ?? 'float32',
      constValue: (name) => numbers(info.get(name)?.value),
    };
    const dx = rule(ctx);
    node.inputs.forEach((input, k) => {
      const d = dx[k];
      if (!needs[k] || !d) return;
      contribute(input, d);
    });
  }

  g.outputs = [];
  const objectiveOutput = objShape.length === 0 ? objective : b.op('ReduceSum', [objective], { keepdims: attr.i(0) }, 'objective');
  b.output(objectiveOutput, 'float32', []);
  const gradOutputs: Record<string, string> = {};
  for (const name of wrt) {
    const out = b.name(`${name}_grad`);
    b.node('Identity', [gradOf(name) ?? filled(b, shape(name), 0)], {}, { outputs: [out] });
    b.output(out, 'float32', shape(name));
    gradOutputs[name] = out;
  }
  for (const name of opts.keepOutputs ?? []) {
    if (!info.has(name)) throw new GraftError('UNKNOWN_TENSOR', `keepOutputs: tensor "${name}" is not in the graph`);
    if (!g.outputs.some((o) => o.name === name)) b.output(name, info.get(name)!.dtype, shape(name));
  }
  const pruned: Graph = pruneUnused(g);
  return { model: { ...upgraded, graph: pruned }, gradOutputs, objectiveOutput, paramInputs };
}

function numbers(dims: Dim[] | undefined): number[] | undefined {
  return dims?.every((d): d is number => typeof d === 'number') ? dims : undefined;
}

/** Float tensors that depend on a wrt tensor. */
function activeTensors(order: Node[], wrt: string[], isFloat: (t: string) => boolean): Set<string> {
  const active = new Set(wrt);
  for (const node of order) {
    if (!node.inputs.some((i) => i && active.has(i))) continue;
    for (const o of node.outputs) if (o && isFloat(o)) active.add(o);
  }
  return active;
}

/** Nodes (in topological order) with an active output on a path to the objective. */
function nodesToObjective(order: Node[], objective: string, active: Set<string>): Node[] {
  const wanted = new Set([objective]);
  const picked: Node[] = [];
  for (let k = order.length - 1; k >= 0; k--) {
    const node = order[k];
    if (!node.outputs.some((o) => wanted.has(o) && active.has(o))) continue;
    picked.push(node);
    for (const i of node.inputs) if (i && active.has(i)) wanted.add(i);
  }
  return picked.reverse();
}
