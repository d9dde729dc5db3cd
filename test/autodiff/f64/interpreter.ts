/**
 * A float64 ONNX interpreter for the ops graft's gradient tests use: the oracle the float32 backward graphs are
 * checked against. Written from the operator spec, independently of src/autodiff, so a wrong rule and a wrong
 * reference cannot agree by construction; test/autodiff/f64-interpreter.test.ts checks it against onnxruntime.
 */
import type { Model } from '../../../src/onnx/types.js';
import { opsetOf } from '../../../src/onnx/types.js';
import { topoSort } from '../../../src/onnx/order.js';
import type { OpImpl } from './context.js';
import type { KinkMonitor } from './kinks.js';
import { ELEMENTWISE_OPS } from './ops-elementwise.js';
import { NN_OPS } from './ops-nn.js';
import { SHAPE_OPS, fromTensor } from './ops-shape.js';
import type { T64 } from './tensor.js';

export type { T64 } from './tensor.js';
export { KinkMonitor } from './kinks.js';

const OPS: Record<string, OpImpl> = { ...ELEMENTWISE_OPS, ...SHAPE_OPS, ...NN_OPS };

/** Ops whose output is an integer tensor when all their inputs are. */
const KEEPS_INT = new Set(['Add', 'Sub', 'Mul', 'Neg', 'Identity', 'Reshape', 'Unsqueeze', 'Squeeze', 'Flatten', 'Concat', 'Slice', 'Gather', 'Expand', 'Transpose']);

/** The ops the interpreter knows. */
export const SUPPORTED_OPS: ReadonlySet<string> = new Set(Object.keys(OPS));

export interface EvaluateOptions {
  /** Records kink distances and pieces of every piecewise op. */
  kinks?: KinkMonitor;
  /** Values replacing initializers (parameters under a finite-difference step). */
  overrides?: Record<string, T64>;
}

/** Prepared once per model: the topological order and float64 copies of the initializers. */
export class Interpreter {
  private readonly order;
  private readonly initial = new Map<string, T64>();
  private readonly opset: number;
  /** The nodes to run, per set of fed names and outputs. */
  private readonly plans = new Map<string, Set<Model['graph']['nodes'][number]>>();

  constructor(readonly model: Model) {
    this.order = topoSort(model.graph);
    this.opset = opsetOf(model);
    for (const [name, t] of model.graph.initializers) this.initial.set(name, fromTensor(t));
    for (const n of this.order) {
      if (n.domain && n.domain !== 'ai.onnx') throw new Error(`f64: op ${n.domain}.${n.opType} is not implemented`);
      if (!OPS[n.opType]) throw new Error(`f64: op ${n.opType} (node "${n.name}") is not implemented`);
    }
  }

  /** Evaluates the graph on `feeds` (graph inputs, and any initializer to override) and returns `outputs`. */
  run(feeds: Record<string, T64>, outputs: string[], opts: EvaluateOptions = {}): Record<string, T64> {
    const values = new Map<string, T64>(this.initial);
    for (const [k, v] of Object.entries(feeds)) values.set(k, v);
    for (const [k, v] of Object.entries(opts.overrides ?? {})) values.set(k, v);
    const key = `${Object.keys(feeds).join(',')}|${Object.keys(opts.overrides ?? {}).join(',')}|${outputs.join(',')}`;
    let needed = this.plans.get(key);
    if (!needed) this.plans.set(key, (needed = this.neededNodes(new Set(outputs), values)));
    for (const node of this.order) {
      if (!needed.has(node)) continue;
      const inputs = node.inputs.map((name) => {
        if (name === '') return undefined;
        const v = values.get(name);
        if (!v) throw new Error(`f64: ${node.opType} "${node.name}": input "${name}" has no value`);
        return v;
      });
      const results = OPS[node.opType]({ node, inputs, opset: this.opset, kinks: opts.kinks });
      const allInt = inputs.every((t) => t === undefined || t.int === true);
      node.outputs.forEach((name, i) => {
        if (name === '' || !results[i]) return;
        const r = results[i];
        if (r.int === undefined && KEEPS_INT.has(node.opType)) r.int = allInt;
        values.set(name, r);
      });
    }
    const out: Record<string, T64> = {};
    for (const name of outputs) {
      const v = values.get(name);
      if (!v) throw new Error(`f64: output "${name}" was not computed`);
      out[name] = v;
    }
    return out;
  }

  /** Nodes the outputs depend on (fed tensors cut the graph). */
  private neededNodes(wanted: Set<string>, known: Map<string, T64>): Set<(typeof this.order)[number]> {
    const producer = new Map(this.order.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
    const needed = new Set<(typeof this.order)[number]>();
    const stack = [...wanted].filter((w) => !known.has(w) || producer.has(w));
    while (stack.length > 0) {
      const name = stack.pop()!;
      const node = producer.get(name);
      if (!node || needed.has(node)) continue;
      needed.add(node);
      for (const i of node.inputs) if (i !== '' && !(known.has(i) && !producer.has(i))) stack.push(i);
    }
    return needed;
  }
}
