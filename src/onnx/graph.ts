/** Graph surgery: names, cloning, pruning, exposing, cutting and appending (graph order lives in order.ts). */
import type { Attribute, Graph, Node, Tensor, ValueInfo, DType, Dim } from './types.js';
import { GraftError } from '../util/errors.js';
import { inferShapes, type TensorInfo } from './shapes.js';
import { producers } from './order.js';


/** Every tensor name in the graph: inputs, initializers and node outputs. */
export function tensorNames(g: Graph): Set<string> {
  const s = new Set<string>([...g.inputs.map((i) => i.name), ...g.initializers.keys()]);
  for (const n of g.nodes) for (const o of n.outputs) if (o) s.add(o);
  return s;
}

/** Finds a tensor by exact name, else by node name (a node's first output), else a layer-name prefix match. */
export function resolveTensor(g: Graph, nameOrLayer: string): string {
  const names = tensorNames(g);
  if (names.has(nameOrLayer)) return nameOrLayer;
  const byNode = g.nodes.find((n) => n.name === nameOrLayer);
  if (byNode) return byNode.outputs[0];
  const suggestions = [...names].filter((n) => n.toLowerCase().includes(nameOrLayer.toLowerCase())).slice(0, 8);
  throw new GraftError(
    'UNKNOWN_LAYER',
    `no tensor or layer named "${nameOrLayer}"` + (suggestions.length ? `; did you mean: ${suggestions.join(', ')}` : '; list them with `graft features --list-layers` or `graft inspect`'),
  );
}

/** A fresh tensor/node name based on `base`, unique within `taken` (which it updates). */
export function uniqueName(taken: Set<string>, base: string): string {
  let name = base;
  for (let k = 1; taken.has(name); k++) name = `${base}_${k}`;
  taken.add(name);
  return name;
}

/** Shallow copy: new node list, initializer map and value-info arrays; tensors and nodes are shared. */
export function cloneGraph(g: Graph): Graph {
  return {
    name: g.name,
    nodes: g.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attributes: { ...n.attributes } })),
    initializers: new Map(g.initializers),
    inputs: g.inputs.map((v) => ({ ...v })),
    outputs: g.outputs.map((v) => ({ ...v })),
    valueInfo: g.valueInfo.map((v) => ({ ...v })),
  };
}

/** Drops nodes and initializers that no graph output depends on. */
export function pruneUnused(g: Graph): Graph {
  const prod = producers(g);
  const needed = new Set<string>();
  const stack = g.outputs.map((o) => o.name);
  const keep = new Set<Node>();
  while (stack.length) {
    const t = stack.pop()!;
    if (needed.has(t)) continue;
    needed.add(t);
    const n = prod.get(t);
    if (n && !keep.has(n)) {
      keep.add(n);
      for (const i of n.inputs) if (i) stack.push(i);
      for (const a of Object.values(n.attributes)) if (a.type === 'graph') for (const i of outerNames(a.value)) stack.push(i);
    }
  }
  const nodes = g.nodes.filter((n) => keep.has(n));
  const initializers = new Map([...g.initializers].filter(([k]) => needed.has(k)));
  const inputs = g.inputs.filter((i) => needed.has(i.name));
  const live = new Set([...needed]);
  const valueInfo = g.valueInfo.filter((v) => live.has(v.name));
  return { ...g, nodes, initializers, inputs, valueInfo };
}

/** Names a subgraph reads from its enclosing scope. */
function outerNames(sub: Graph): string[] {
  const local = tensorNames(sub);
  const out: string[] = [];
  for (const n of sub.nodes) for (const i of n.inputs) if (i && !local.has(i)) out.push(i);
  return out;
}

function valueInfoFor(g: Graph, name: string, inferred?: Map<string, TensorInfo>): ValueInfo {
  const known = [...g.valueInfo, ...g.outputs, ...g.inputs].find((v) => v.name === name);
  if (known) return { ...known };
  const init = g.initializers.get(name);
  if (init) return { name, dtype: init.dtype, shape: init.dims };
  const info = inferred?.get(name);
  const fallback: DType = 'float32';
  return { name, dtype: info?.dtype ?? fallback, shape: info?.shape };
}

/** Adds tensors (intermediate or not) as graph outputs, keeping existing outputs. */
export function exposeOutputs(g: Graph, names: string[]): Graph {
  const known = tensorNames(g);
  const out = cloneGraph(g);
  const inferred = inferShapes(g);
  for (const name of names) {
    if (!known.has(name)) resolveTensor(g, name);
    if (!out.outputs.some((o) => o.name === name)) out.outputs.push(valueInfoFor(g, name, inferred));
  }
  return out;
}

/** The graph up to (and including) the given tensors, which become its only outputs. */
export function cutAt(g: Graph, names: string[]): Graph {
  const resolved = names.map((n) => resolveTensor(g, n));
  const out = cloneGraph(g);
  const inferred = inferShapes(g);
  out.outputs = resolved.map((n) => valueInfoFor(g, n, inferred));
  return pruneUnused(out);
}

export interface NewNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, Attribute>;
  name?: string;
  domain?: string;
}

/**
 * A small builder for appending nodes/initializers to a graph with unique names.
 * Used by converters, architecture builders, heads, objectives and autodiff.
 */
export class GraphBuilder {
  readonly taken: Set<string>;

  constructor(readonly graph: Graph) {
    this.taken = tensorNames(graph);
    for (const n of graph.nodes) if (n.name) this.taken.add(n.name);
  }

  /** A fresh unique name. */
  name(base: string): string {
    return uniqueName(this.taken, base);
  }

  /** Adds a node; outputs given as bare bases are made unique. Returns its outputs. */
  node(opType: string, inputs: string[], attributes: Record<string, Attribute> = {}, opts: { outputs?: number | string[]; name?: string; domain?: string } = {}): string[] {
    const outputs = Array.isArray(opts.outputs)
      ? opts.outputs
      : Array.from({ length: opts.outputs ?? 1 }, (_, k) => this.name(`${opts.name ?? opType}${k ? `_out${k}` : ''}`));
    for (const o of outputs) this.taken.add(o);
    const name = opts.name && !this.taken.has(`node:${opts.name}`) ? opts.name : this.name(opts.name ?? opType);
    this.taken.add(`node:${name}`);
    const node: Node = { name, opType, inputs, outputs, attributes };
    if (opts.domain) node.domain = opts.domain;
    this.graph.nodes.push(node);
    return outputs;
  }

  /** Single-output convenience. */
  op(opType: string, inputs: string[], attributes: Record<string, Attribute> = {}, name?: string): string {
    return this.node(opType, inputs, attributes, { name })[0];
  }

  /** Adds an initializer under a unique name (based on t.name) and returns that name. */
  initializer(t: Tensor): string {
    const name = this.taken.has(t.name) && this.graph.initializers.get(t.name) !== t ? this.name(t.name) : t.name;
    this.taken.add(name);
    this.graph.initializers.set(name, { ...t, name });
    return name;
  }

  /** A scalar or 1-D float constant as an initializer. */
  constFloat(base: string, values: number | number[], dims?: number[]): string {
    const arr = Array.isArray(values) ? values : [values];
    return this.initializer({ name: this.name(base), dtype: 'float32', dims: dims ?? (Array.isArray(values) ? [arr.length] : []), data: Float32Array.from(arr) });
  }

  constInt64(base: string, values: number[], dims?: number[]): string {
    return this.initializer({ name: this.name(base), dtype: 'int64', dims: dims ?? [values.length], data: BigInt64Array.from(values.map(BigInt)) });
  }

  input(name: string, dtype: DType, shape: Dim[]): string {
    this.taken.add(name);
    this.graph.inputs.push({ name, dtype, shape });
    return name;
  }

  output(name: string, dtype: DType = 'float32', shape?: Dim[]): void {
    this.graph.outputs.push({ name, dtype, shape });
  }
}

/** Operand slots that hold settings (bounds, pads, shapes, indices), never learned weights. */
const AUXILIARY_INPUTS: Record<string, number[]> = {
  Clip: [1, 2], Pad: [1, 2, 3], Reshape: [1], Resize: [1, 2, 3], Slice: [1, 2, 3, 4], Expand: [1], Tile: [1],
  Squeeze: [1], Unsqueeze: [1], ReduceSum: [1], ReduceMean: [1], ReduceMax: [1], Gather: [1], Pow: [1], Split: [1],
};

/** Names of the initializers that are learned weights, and of the BatchNormalization running statistics. */
export function weightInitializers(g: Graph): { weights: Set<string>; batchNormStats: Set<string> } {
  const batchNormStats = new Set<string>();
  const auxiliary = new Set<string>();
  for (const n of g.nodes) {
    if (n.opType === 'BatchNormalization') [3, 4].forEach((k) => batchNormStats.add(n.inputs[k]));
    for (const k of AUXILIARY_INPUTS[n.opType] ?? []) if (n.inputs[k]) auxiliary.add(n.inputs[k]);
  }
  const weights = new Set<string>();
  for (const t of g.initializers.values()) {
    const numeric = t.dtype !== 'int64' && t.dtype !== 'int32' && t.dtype !== 'bool' && t.dtype !== 'string';
    if (numeric && t.dims.length > 0 && !auxiliary.has(t.name) && !batchNormStats.has(t.name)) weights.add(t.name);
  }
  return { weights, batchNormStats };
}

/**
 * Counts parameters as torchvision does: elements of the weight initializers, excluding BatchNormalization
 * running statistics (reported separately), scalars, and settings such as Clip bounds.
 */
export function parameterCount(g: Graph): { trainable: number; batchNormStats: number } {
  const { weights, batchNormStats } = weightInitializers(g);
  const size = (name: string) => g.initializers.get(name)?.dims.reduce((a, b) => a * b, 1) ?? 0;
  let trainable = 0;
  let stats = 0;
  for (const w of weights) trainable += size(w);
  for (const s of batchNormStats) stats += size(s);
  return { trainable, batchNormStats: stats };
}
