/** Small graph-emitting helpers shared by the gradient rules (all emit opset ≥ 13 forms: axes as inputs). */
import type { GraphBuilder } from '../onnx/graph.js';
import { attr } from '../onnx/types.js';

/** ReduceSum over `axes` (empty: returns x unchanged). */
export function reduceSum(b: GraphBuilder, x: string, axes: number[], keepdims: boolean): string {
  if (axes.length === 0) return x;
  return b.op('ReduceSum', [x, b.constInt64('axes', axes)], { keepdims: attr.i(keepdims ? 1 : 0) });
}

export function reshape(b: GraphBuilder, x: string, shape: number[]): string {
  return b.op('Reshape', [x, b.constInt64('shape', shape)]);
}

export function transpose(b: GraphBuilder, x: string, perm: number[]): string {
  return b.op('Transpose', [x], { perm: attr.ints(perm) });
}

/** Swaps the last two axes of a tensor of the given rank. */
export function transposeLast2(b: GraphBuilder, x: string, rank: number): string {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return transpose(b, x, perm);
}

/** A float32 scalar constant. */
export function scalar(b: GraphBuilder, value: number): string {
  return b.constFloat('c', value);
}

export function mulScalar(b: GraphBuilder, x: string, value: number): string {
  return value === 1 ? x : b.op('Mul', [x, scalar(b, value)]);
}

/** A float32 tensor filled with `value`, of a static shape. */
export function filled(b: GraphBuilder, shape: number[], value: number): string {
  const fill = { name: 'value', dtype: 'float32' as const, dims: [1], data: Float32Array.of(value) };
  return b.op('ConstantOfShape', [b.constInt64('shape', shape)], { value: attr.t(fill) });
}

/**
 * dy where cond holds, 0 elsewhere, as dy · float(cond): onnxruntime's Where with a broadcast scalar runs
 * several times slower than Cast + Mul over the same activations (it was the largest backward op of the
 * MobileNet training step's profile). GRAFT_MASK=where restores the Where form for same-run comparisons.
 */
export function maskWhere(b: GraphBuilder, cond: string, dy: string): string {
  if (process.env.GRAFT_MASK === 'where') return b.op('Where', [cond, dy, scalar(b, 0)]);
  return b.op('Mul', [dy, b.op('Cast', [cond], { to: attr.i(1) })]);
}

/**
 * Sums a gradient of a broadcast result back to the shape of one operand (numpy rules):
 * over the leading axes the operand lacks and the axes where it has size 1.
 */
export function unbroadcast(b: GraphBuilder, g: string, gShape: number[], target: number[]): string {
  if (sameShape(gShape, target)) return g;
  const lead = gShape.length - target.length;
  const axes: number[] = [];
  gShape.forEach((d, i) => {
    if (i < lead || (target[i - lead] === 1 && d !== 1)) axes.push(i);
  });
  const summed = reduceSum(b, g, axes, true);
  return lead === 0 ? summed : reshape(b, summed, target);
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** 0..n-1 */
export function range(n: number, from = 0): number[] {
  return Array.from({ length: n - from }, (_, i) => i + from);
}
