/**
 * Graph order: who produces and who reads each tensor, and a topological order of the nodes. Below both graph
 * surgery (graph.ts) and shape inference (shapes.ts), which each need it.
 */
import type { Graph, Node } from './types.js';
import { GraftError } from '../util/errors.js';

/** Map tensor name → the node that produces it. */
export function producers(g: Graph): Map<string, Node> {
  const m = new Map<string, Node>();
  for (const n of g.nodes) for (const o of n.outputs) if (o) m.set(o, n);
  return m;
}

/** Map tensor name → nodes that read it. */
export function consumers(g: Graph): Map<string, Node[]> {
  const m = new Map<string, Node[]>();
  for (const n of g.nodes) {
    for (const i of n.inputs) {
      if (!i) continue;
      let list = m.get(i);
      if (!list) m.set(i, (list = []));
      if (!list.includes(n)) list.push(n);
    }
  }
  return m;
}

/** Nodes in topological order (stable: keeps the file's order where it is already valid). */
export function topoSort(g: Graph): Node[] {
  const available = new Set<string>(['', ...g.inputs.map((i) => i.name), ...g.initializers.keys()]);
  const prod = producers(g);
  const cons = consumers(g);
  const pending = new Map<Node, number>();
  const ready: Node[] = [];
  for (const n of g.nodes) {
    // Counted per occurrence: Mul(t, t) waits for two arrivals of t.
    const missing = n.inputs.filter((i) => !available.has(i) && prod.has(i)).length;
    pending.set(n, missing);
    if (missing === 0) ready.push(n);
  }
  const order: Node[] = [];
  const index = new Map(g.nodes.map((n, i) => [n, i]));
  while (ready.length) {
    ready.sort((a, b) => index.get(a)! - index.get(b)!);
    const n = ready.shift()!;
    order.push(n);
    for (const o of n.outputs) {
      if (!o || available.has(o)) continue;
      available.add(o);
      for (const c of cons.get(o) ?? []) {
        const left = pending.get(c)! - c.inputs.filter((i) => i === o).length;
        pending.set(c, left);
        if (left === 0) ready.push(c);
      }
    }
  }
  if (order.length !== g.nodes.length) {
    const stuck = g.nodes.find((n) => !order.includes(n))!;
    throw new GraftError('MODEL_FORMAT', `graph has a cycle or a missing input near node ${describeNode(stuck)}`);
  }
  return order;
}

export function describeNode(n: Node): string {
  return `${n.name || '(unnamed)'} (${n.opType})`;
}
