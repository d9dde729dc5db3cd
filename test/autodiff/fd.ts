/**
 * Gradient checks for autodiff tests: the float32 backward graph (run by onnxruntime) vs central differences of
 * the float64 reference interpreter at points away from kinks. Why this is CPU-independent: f64/reference.ts.
 */
import assert from 'node:assert/strict';
import type { Model } from '../../src/onnx/types.js';
import { attr, emptyGraph, newModel, tensorSize } from '../../src/onnx/types.js';
import { GraphBuilder } from '../../src/onnx/graph.js';
import { inferShapes } from '../../src/onnx/shapes.js';
import { Session, asFloat32, float32 } from '../../src/runtime/session.js';
import type { OrtTensor } from '../../src/runtime/session.js';
import { buildGradientModel } from '../../src/autodiff/grad.js';
import { Rng } from '../../src/util/rng.js';
import type { Point } from './f64/reference.js';
import { GRADIENT_RTOL, KINK_MARGIN, Reference, drawAwayFromKinks } from './f64/reference.js';

export interface Feed { data: Float32Array; dims: number[] }

export const feed = (dims: number[], data: Float32Array): Feed => ({ data, dims });

/** Uniform values in [lo, hi) at least `gap` away from each of `avoid` (kinks). */
export function randomFeed(rng: Rng, dims: number[], lo = -1, hi = 1, avoid: number[] = [], gap = 0.05): Feed {
  const data = new Float32Array(tensorSize(dims));
  for (let i = 0; i < data.length; i++) {
    let v: number;
    do v = rng.uniform(lo, hi);
    while (avoid.some((a) => Math.abs(v - a) < gap));
    data[i] = v;
  }
  return { data, dims };
}

/** Distinct values spaced `step` apart in random order (no ties for max-pooling within ±step/2). */
export function distinctFeed(rng: Rng, dims: number[], step = 0.05): Feed {
  const n = tensorSize(dims);
  const data = Float32Array.from({ length: n }, (_, i) => (i - n / 2) * step);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [data[i], data[j]] = [data[j], data[i]];
  }
  return { data, dims };
}

/**
 * Draws feeds with `draw` (from a seeded Rng, so deterministic) until the float64 forward of `model` is
 * KINK_MARGIN away from every kink. Whole networks need this: with thousands of ReLU inputs and max windows,
 * one of them within 1e-5 of its kink is likely at a random point.
 */
export function feedsAwayFromKinks(model: Model, objective: string, draw: () => Record<string, Feed>): Record<string, Feed> {
  const toPoint = (f: Record<string, Feed>): Point => Object.fromEntries(Object.entries(f).map(([k, v]) => [k, { dims: v.dims, data: Float64Array.from(v.data) }]));
  return drawAwayFromKinks(new Reference(model, objective), draw, toPoint);
}

export interface OpGraph {
  model: Model;
  objective: string;
}

/**
 * A small graph: graph inputs from `inputs`, nodes from `build`, then objective Σ R ⊙ y with a fixed
 * random R (so every output element gets a distinct upstream gradient). Initializers added by `build` stay.
 */
export function opGraph(inputs: Record<string, number[]>, build: (b: GraphBuilder) => string, seed = 7, opset = 17): OpGraph {
  const g = emptyGraph('op');
  const b = new GraphBuilder(g);
  for (const [name, dims] of Object.entries(inputs)) b.input(name, 'float32', dims);
  const y = build(b);
  const yShape = inferShapes(g, inputs).get(y)?.shape as number[];
  const rng = new Rng(seed);
  const r = b.initializer({ name: 'R', dtype: 'float32', dims: yShape, data: Float32Array.from({ length: tensorSize(yShape) }, () => rng.uniform(-1, 1)) });
  const objective = b.op('ReduceSum', [b.op('Mul', [y, r])], { keepdims: attr.i(0) }, 'objective');
  b.output(objective, 'float32', []);
  return { model: newModel(g, opset), objective };
}

export interface CheckOptions {
  objective: string;
  wrt: string[];
  feeds: Record<string, Feed>;
  /** Smallest allowed distance to a kink at the point (default KINK_MARGIN). */
  margin?: number;
}

/** Analytic gradients of `model` (from the backward graph), plus the feeds used (inputs and lifted parameters). */
export async function analyticGradients(model: Model, opts: CheckOptions): Promise<{ grads: Record<string, Float32Array>; objective: number; feeds: Record<string, OrtTensor> }> {
  const inputShapes = Object.fromEntries(Object.entries(opts.feeds).map(([k, v]) => [k, v.dims]));
  const gm = buildGradientModel(model, { objective: opts.objective, wrt: opts.wrt, inputShapes });
  const feeds: Record<string, OrtTensor> = {};
  for (const [k, v] of Object.entries(opts.feeds)) feeds[k] = float32(v.data, v.dims);
  for (const p of gm.paramInputs) {
    const t = model.graph.initializers.get(p)!;
    feeds[p] = float32(Float32Array.from(t.data as Float32Array), t.dims);
  }
  const session = await Session.create(gm.model);
  const used = Object.fromEntries(session.inputNames.map((n) => [n, feeds[n]]));
  const out = await session.run(used);
  await session.release();
  const grads = Object.fromEntries(Object.entries(gm.gradOutputs).map(([w, o]) => [w, asFloat32(out[o])]));
  return { grads, objective: asFloat32(out[gm.objectiveOutput])[0], feeds };
}

/** The graph's inputs and lifted parameters as a float64 point (the exact values the float32 run used). */
function pointOf(feeds: Record<string, OrtTensor>): Point {
  return Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { dims: [...t.dims], data: Float64Array.from(asFloat32(t)) }]));
}

/** Ops with kinks the reference must stay away from (see f64/reference.ts). */
const KINKED_OPS = ['Relu', 'LeakyRelu', 'Elu', 'Abs', 'HardSigmoid', 'HardSwish', 'Clip', 'MaxPool', 'GlobalMaxPool', 'Greater', 'Less'];

/**
 * The float64 reference at the analytic run's point: asserts the point is away from every kink (and that each
 * piecewise op of the graph was actually checked) and that the interpreter's objective equals onnxruntime's.
 */
function referenceAt(model: Model, objective: string, feeds: Record<string, OrtTensor>, ortObjective: number, margin: number): { reference: Reference; point: Point; pattern: number } {
  const reference = new Reference(model, objective);
  const point = pointOf(feeds);
  const { monitor, objective: value } = reference.assertAwayFromKinks(point, margin);
  for (const op of new Set(model.graph.nodes.map((n) => n.opType).filter((op) => KINKED_OPS.includes(op)))) {
    assert.ok((monitor.checked.get(op) ?? 0) > 0, `the kink check saw no ${op} element`);
  }
  assert.ok(Math.abs(value - ortObjective) <= OBJECTIVE_RTOL * Math.max(1, Math.abs(value)), `float64 objective ${value} vs onnxruntime ${ortObjective}`);
  return { reference, point, pattern: monitor.pattern };
}

/**
 * float32 objective vs the float64 interpreter's: a cross-check of the interpreter on every graph it is the
 * reference for (onnxruntime's float32 forward is ~1e-6 relative off; a wrong op is off by O(1)).
 */
const OBJECTIVE_RTOL = 1e-4;

/** Asserts every gradient entry matches central finite differences of the float64 reference. */
export async function checkGradients(model: Model, opts: CheckOptions): Promise<void> {
  const { grads, feeds, objective } = await analyticGradients(model, opts);
  const { reference, point, pattern } = referenceAt(model, opts.objective, feeds, objective, opts.margin ?? KINK_MARGIN);
  for (const w of opts.wrt) compare(grads[w], reference.gradient(point, w, pattern), `d objective / d ${w}`);
}

/** Directional check: ⟨∇f, v⟩ against the float64 central difference along random unit directions v. */
export async function checkDirectional(model: Model, opts: CheckOptions & { directions?: number; seed?: number }): Promise<void> {
  const { grads, feeds, objective } = await analyticGradients(model, opts);
  const { reference, point, pattern } = referenceAt(model, opts.objective, feeds, objective, opts.margin ?? KINK_MARGIN);
  let gradNorm = 0;
  for (const w of opts.wrt) for (const g of grads[w]) gradNorm += g * g;
  gradNorm = Math.sqrt(gradNorm);
  assert.ok(gradNorm > 1e-3, 'the gradient is ~0, the test checks nothing');
  const rng = new Rng(opts.seed ?? 3);
  for (let k = 0; k < (opts.directions ?? 3); k++) {
    const dirs: Record<string, Float64Array> = {};
    let norm = 0;
    for (const w of opts.wrt) {
      dirs[w] = Float64Array.from(grads[w], () => rng.normal());
      for (const v of dirs[w]) norm += v * v;
    }
    let analytic = 0;
    for (const w of opts.wrt) {
      dirs[w] = dirs[w].map((v) => v / Math.sqrt(norm));
      grads[w].forEach((g, i) => (analytic += g * dirs[w][i]));
    }
    const numeric = reference.directional(point, dirs, pattern);
    report('directional', Math.abs(analytic - numeric) / gradNorm);
    assert.ok(Math.abs(analytic - numeric) <= GRADIENT_RTOL * gradNorm,
      `direction ${k}: analytic ${analytic} vs float64 finite difference ${numeric} (|∇f| ${gradNorm.toFixed(4)})`);
  }
}

/**
 * Whole ImageNet-size networks have millions of ReLU6/ReLU inputs and, freshly initialised, deep layers whose
 * values are mostly tiny: a large share is always within KINK_MARGIN of a kink, so no point can be drawn away
 * from all of them. The float64 finite difference is still exact (both steps stay on the base point's pieces,
 * checked); what is not guaranteed is that onnxruntime's float32 forward puts the elements within ~1e-7 of a
 * kink on the same piece. Each such element carries one path's contribution among millions, so these checks
 * allow LARGE_NET_RTOL of |∇f| (measured: 5e-8 MobileNetV2, ≤ 7e-6 TF.js MobileNet v1, 1e-9 ResNet-18) and report how many
 * elements were near a kink. The per-rule and small-network tests above carry the tight, kink-free checks.
 */
export const LARGE_NET_RTOL = 1e-3;

/** ⟨∇f, direction⟩ of a whole network's objective by the float64 reference, and its kink statistics. */
export function referenceDirectional(model: Model, feeds: Record<string, OrtTensor>, ortObjective: number, direction: Record<string, Float64Array>): { numeric: number; kinks: string } {
  const reference = new Reference(model, 'objective');
  const point = pointOf(feeds);
  const { monitor, objective } = reference.kinks(point, KINK_MARGIN);
  assert.ok(monitor.totalChecked > 0, 'the kink check saw no element');
  assert.ok(Math.abs(objective - ortObjective) <= OBJECTIVE_RTOL * Math.max(1, Math.abs(objective)), `float64 objective ${objective} vs onnxruntime ${ortObjective}`);
  return { numeric: reference.directional(point, direction, monitor.pattern), kinks: monitor.describe() };
}

/** Largest relative errors seen, printed at exit when GRAFT_FD_REPORT is set (to justify GRADIENT_RTOL). */
const worst = new Map<string, number>();
export function report(kind: string, relErr: number): void {
  if (!process.env.GRAFT_FD_REPORT) return;
  if (worst.size === 0) process.on('exit', () => console.error(`[fd] worst relative errors: ${JSON.stringify(Object.fromEntries(worst))}`));
  worst.set(kind, Math.max(worst.get(kind) ?? 0, relErr));
}

function compare(analytic: Float32Array, numeric: Float64Array, what: string): void {
  assert.equal(analytic.length, numeric.length, `${what}: length`);
  let scale = 0;
  for (const v of numeric) scale = Math.max(scale, Math.abs(v));
  assert.ok(scale > 1e-3, `${what}: the finite-difference gradient is ~0, the test checks nothing`);
  let worstErr = 0;
  let at = 0;
  for (let i = 0; i < numeric.length; i++) {
    const err = Math.abs(analytic[i] - numeric[i]);
    if (err > worstErr) [worstErr, at] = [err, i];
  }
  report('elementwise', worstErr / scale);
  assert.ok(worstErr <= GRADIENT_RTOL * scale, `${what}: entry ${at} analytic ${analytic[at]} vs float64 finite difference ${numeric[at]} (max |fd| ${scale.toFixed(4)})`)
}
