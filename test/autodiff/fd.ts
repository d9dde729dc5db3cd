/** Finite-difference oracle for autodiff tests: gradients from the backward graph vs central differences of the forward graph. */
import assert from 'node:assert/strict';
import type { Model } from '../../src/onnx/types.js';
import { attr, emptyGraph, newModel, tensorSize } from '../../src/onnx/types.js';
import { GraphBuilder, cloneGraph, pruneUnused } from '../../src/onnx/graph.js';
import { inferShapes } from '../../src/onnx/shapes.js';
import { Session, asFloat32, float32 } from '../../src/runtime/session.js';
import type { OrtTensor } from '../../src/runtime/session.js';
import { buildGradientModel } from '../../src/autodiff/grad.js';
import { Rng } from '../../src/util/rng.js';

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

/** The forward graph computing only the objective, with the wrt initializers lifted to inputs. */
async function forwardSession(model: Model, objective: string, wrt: string[]): Promise<Session> {
  const g = cloneGraph(model.graph);
  for (const name of wrt) {
    const t = g.initializers.get(name);
    if (!t) continue;
    g.initializers.delete(name);
    g.inputs.push({ name, dtype: t.dtype, shape: t.dims });
  }
  g.outputs = [{ name: objective, dtype: 'float32' }];
  return Session.create({ ...model, graph: pruneUnused(g) });
}

function sum(t: OrtTensor): number {
  let s = 0;
  for (const v of asFloat32(t)) s += v;
  return s;
}

export interface CheckOptions {
  objective: string;
  wrt: string[];
  feeds: Record<string, Feed>;
  /** FD step. */
  h?: number;
  /** Allowed max error relative to the largest FD gradient entry of a tensor. */
  rtol?: number;
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

/** Asserts every gradient entry matches central finite differences. */
export async function checkGradients(model: Model, opts: CheckOptions): Promise<void> {
  const h = opts.h ?? 1e-2;
  const rtol = opts.rtol ?? 1e-2;
  const { grads, feeds } = await analyticGradients(model, opts);
  const fwd = await forwardSession(model, opts.objective, opts.wrt);
  const base: Record<string, OrtTensor> = {};
  for (const n of fwd.inputNames) base[n] = feeds[n];
  for (const w of opts.wrt) {
    const x = Float32Array.from(asFloat32(base[w]));
    const fd = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      x[i] = v + h;
      const plus = sum((await fwd.run({ ...base, [w]: float32(x, base[w].dims) }))[opts.objective]);
      x[i] = v - h;
      const minus = sum((await fwd.run({ ...base, [w]: float32(x, base[w].dims) }))[opts.objective]);
      x[i] = v;
      fd[i] = (plus - minus) / (2 * h);
    }
    compare(grads[w], fd, rtol, `d objective / d ${w}`);
  }
  await fwd.release();
}

/** Directional check: ⟨∇f, v⟩ against (f(x+hv) − f(x−hv)) / 2h for random unit directions v. */
export async function checkDirectional(model: Model, opts: CheckOptions & { directions?: number; seed?: number }): Promise<void> {
  const h = opts.h ?? 1e-3;
  const rtol = opts.rtol ?? 1e-2;
  const { grads, feeds } = await analyticGradients(model, opts);
  const fwd = await forwardSession(model, opts.objective, opts.wrt);
  const base: Record<string, OrtTensor> = {};
  for (const n of fwd.inputNames) base[n] = feeds[n];
  const rng = new Rng(opts.seed ?? 3);
  for (let k = 0; k < (opts.directions ?? 3); k++) {
    const shifted = (sign: number, dirs: Record<string, Float32Array>) => {
      const f: Record<string, OrtTensor> = { ...base };
      for (const w of opts.wrt) {
        const x = asFloat32(base[w]);
        f[w] = float32(x.map((v, i) => v + sign * h * dirs[w][i]), base[w].dims);
      }
      return f;
    };
    const dirs: Record<string, Float32Array> = {};
    let norm = 0;
    for (const w of opts.wrt) {
      dirs[w] = Float32Array.from(grads[w], () => rng.normal());
      for (const v of dirs[w]) norm += v * v;
    }
    let analytic = 0;
    for (const w of opts.wrt) {
      dirs[w] = dirs[w].map((v) => v / Math.sqrt(norm));
      grads[w].forEach((g, i) => (analytic += g * dirs[w][i]));
    }
    const plus = sum((await fwd.run(shifted(1, dirs)))[opts.objective]);
    const minus = sum((await fwd.run(shifted(-1, dirs)))[opts.objective]);
    const numeric = (plus - minus) / (2 * h);
    assert.ok(Math.abs(analytic - numeric) <= rtol * Math.max(Math.abs(numeric), 1e-2),
      `direction ${k}: analytic ${analytic} vs finite difference ${numeric}`);
  }
  await fwd.release();
}

function compare(analytic: Float32Array, numeric: Float64Array, rtol: number, what: string): void {
  assert.equal(analytic.length, numeric.length, `${what}: length`);
  let scale = 0;
  for (const v of numeric) scale = Math.max(scale, Math.abs(v));
  assert.ok(scale > 1e-3, `${what}: the finite-difference gradient is ~0, the test checks nothing`);
  let worst = 0;
  let at = 0;
  for (let i = 0; i < numeric.length; i++) {
    const err = Math.abs(analytic[i] - numeric[i]);
    if (err > worst) [worst, at] = [err, i];
  }
  assert.ok(worst <= rtol * scale + 1e-4, `${what}: entry ${at} analytic ${analytic[at]} vs finite difference ${numeric[at]} (max |fd| ${scale.toFixed(4)})`);
}
