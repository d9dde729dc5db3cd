/** Helpers shared by the builder tests: running a built model, statistics of weight tensors. */
import assert from 'node:assert/strict';
import type { BuiltModel } from '../../src/models/builders/index.js';
import { exposeOutputs } from '../../src/onnx/graph.js';
import type { Tensor } from '../../src/onnx/types.js';
import { Session, asFloat32, float32 } from '../../src/runtime/session.js';

/** A deterministic, image-like input batch (values in [-2, 2]). */
export function testInput(batch: number, size: number): Float32Array {
  const x = new Float32Array(batch * 3 * size * size);
  for (let i = 0; i < x.length; i++) x[i] = 2 * Math.sin(i * 0.7311 + (i % 97) * 0.013);
  return x;
}

/** Runs `built` on testInput at `batch`, returning the requested tensors (default: logits) with their dims. */
export async function runBuilt(built: BuiltModel, batch: number, extra: string[] = []): Promise<Record<string, { data: Float32Array; dims: readonly number[] }>> {
  const model = extra.length ? { ...built.model, graph: exposeOutputs(built.model.graph, extra) } : built.model;
  const session = await Session.create(model);
  try {
    const size = built.inputShape[2];
    const out = await session.run({ [built.inputName]: float32(testInput(batch, size), [batch, 3, size, size]) }, [built.outputName, ...extra]);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, { data: asFloat32(t), dims: t.dims }]));
  } finally {
    await session.release();
  }
}

/** Asserts logits have shape [batch, classes], are finite and not constant. */
export function assertHealthyLogits(logits: { data: Float32Array; dims: readonly number[] }, batch: number, classes: number): void {
  assert.deepEqual([...logits.dims], [batch, classes]);
  assert.ok(logits.data.every(Number.isFinite), 'logits must be finite');
  assert.ok(new Set(logits.data).size > classes / 2, 'logits must vary across classes');
}

export function weight(built: BuiltModel, name: string): Tensor {
  const t = built.model.graph.initializers.get(name);
  assert.ok(t, `initializer ${name} missing`);
  return t;
}

export function stats(t: Tensor): { mean: number; std: number; min: number; max: number; n: number } {
  const d = t.data as Float32Array;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of d) {
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = sum / d.length;
  let sq = 0;
  for (const v of d) sq += (v - mean) ** 2;
  return { mean, std: Math.sqrt(sq / d.length), min, max, n: d.length };
}

/**
 * Asserts `t` looks drawn from N(0, std²): sample std within 5 standard errors (SE of a normal sample std is
 * σ/√(2n)), mean within 5·σ/√n, and about 68.3% of the mass within one σ.
 */
export function assertNormal(t: Tensor, std: number): void {
  const s = stats(t);
  assert.ok(Math.abs(s.std - std) < (5 * std) / Math.sqrt(2 * s.n), `${t.name}: std ${s.std}, expected ${std}`);
  assert.ok(Math.abs(s.mean) < (5 * std) / Math.sqrt(s.n), `${t.name}: mean ${s.mean}`);
  const within = (t.data as Float32Array).reduce((k, v) => k + (Math.abs(v) < std ? 1 : 0), 0) / s.n;
  assert.ok(Math.abs(within - 0.6827) < 5 * Math.sqrt((0.6827 * 0.3173) / s.n), `${t.name}: ${within} of the mass within 1σ`);
}

/** Asserts `t` looks drawn from U(−bound, bound): inside the bounds, reaching near them, variance bound²/3. */
export function assertUniform(t: Tensor, bound: number): void {
  const s = stats(t);
  assert.ok(s.min >= -bound && s.max <= bound, `${t.name}: range [${s.min}, ${s.max}] exceeds ±${bound}`);
  const sd = bound / Math.sqrt(3);
  // The sample variance has variance (μ4 − σ⁴)/n = (bound⁴/5 − bound⁴/9)/n, so SE(std) = √(4/45)·bound²/(2σ√n) ≈ 0.258·bound/√n.
  assert.ok(Math.abs(s.std - sd) < (5 * 0.258 * bound) / Math.sqrt(s.n), `${t.name}: std ${s.std}, expected ${sd}`);
  if (s.n > 1000) assert.ok(s.max > 0.99 * bound && s.min < -0.99 * bound, `${t.name}: range [${s.min}, ${s.max}] should fill ±${bound}`);
}

export function isZeros(t: Tensor): boolean {
  return (t.data as Float32Array).every((v) => v === 0);
}

export function isOnes(t: Tensor): boolean {
  return (t.data as Float32Array).every((v) => v === 1);
}
