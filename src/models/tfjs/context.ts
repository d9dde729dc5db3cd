/** Shared state of one TF.js → ONNX conversion: the graph builder, weight lookup, layout helpers. */
import type { Dim } from '../../onnx/types.js';
import { GraphBuilder } from '../../onnx/graph.js';
import { attr, type Attribute } from '../../onnx/types.js';
import { GraftError } from '../../util/errors.js';
import type { KerasLayer, KerasWeight } from './read.js';

/** A Keras (channels-last) shape with the batch dimension first (null = unknown). */
export type Shape = (number | null)[];

/**
 * A converted tensor. `shape` is the Keras shape; 4-D tensors are stored NCHW in the graph
 * (every other rank keeps the Keras layout).
 */
export interface Value {
  name: string;
  shape: Shape;
}

export const NHWC_TO_NCHW = [0, 3, 1, 2];
export const NCHW_TO_NHWC = [0, 2, 3, 1];

/** The stored (ONNX) dims of a Keras shape, with a symbolic batch "N". */
export function storedDims(shape: Shape): Dim[] {
  const dims: Dim[] = shape.map((d, i) => (i === 0 ? 'N' : d));
  return shape.length === 4 ? NHWC_TO_NCHW.map((i) => dims[i]) : dims;
}

/** Maps a Keras axis (may be negative) to the axis of the stored tensor. */
export function storedAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new GraftError('SHAPE', `axis ${axis} is out of range for a rank-${rank} tensor`);
  return rank === 4 ? NHWC_TO_NCHW.indexOf(a) : a;
}

/** Permutes an N-D row-major array: out dims = perm.map(i => dims[i]). */
export function permute(data: Float32Array, dims: number[], perm: number[]): { data: Float32Array; dims: number[] } {
  const outDims = perm.map((p) => dims[p]);
  const rank = dims.length;
  const inStrides = new Array<number>(rank);
  for (let i = rank - 1, s = 1; i >= 0; s *= dims[i], i--) inStrides[i] = s;
  const strides = perm.map((p) => inStrides[p]);
  const out = new Float32Array(data.length);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let k = 0; k < rank; k++) src += idx[k] * strides[k];
    out[o] = data[src];
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k] < outDims[k]) break;
      idx[k] = 0;
    }
  }
  return { data: out, dims: outDims };
}

export class ConvertContext {
  readonly b: GraphBuilder;

  constructor(b: GraphBuilder, private readonly weights: Map<string, KerasWeight>, readonly file: string) {
    this.b = b;
  }

  /** A fresh name for an intermediate tensor. */
  tmp(base: string): string {
    return this.b.name(base);
  }

  /** Adds a node whose single output has the given (already reserved) name. */
  emit(opType: string, inputs: string[], output: string, attributes: Record<string, Attribute> = {}): string {
    this.b.node(opType, inputs, attributes, { outputs: [output], name: output });
    return output;
  }

  /** The weight `<layer>/<param>`; names may carry a scope prefix ("model/conv1/kernel") or a ":0" suffix. */
  weight(layer: KerasLayer, param: string): KerasWeight {
    const key = `${layer.name}/${param}`;
    const direct = this.weights.get(key) ?? this.weights.get(`${key}:0`);
    if (direct) return direct;
    const scoped = [...this.weights.keys()].filter((k) => k.endsWith(`/${key}`) || k.endsWith(`/${key}:0`));
    if (scoped.length === 1) return this.weights.get(scoped[0])!;
    throw new GraftError('MODEL_FORMAT', `weight "${key}" of ${layer.className} "${layer.name}" not found in ${this.file}` + (scoped.length ? ` (ambiguous: ${scoped.join(', ')})` : ''));
  }

  /** A float32 initializer. */
  init(name: string, dims: number[], data: Float32Array): string {
    return this.b.initializer({ name: this.b.name(name), dtype: 'float32', dims, data });
  }

  /** The tensor in Keras element order (NHWC for 4-D), transposing when the layouts differ. */
  toKerasOrder(v: Value, forReshapeOnly = false): string {
    if (v.shape.length !== 4) return v.name;
    // Reshape/Flatten only care about element order, which is the same in both layouts when H·W = 1 or C = 1.
    const [, h, w, c] = v.shape;
    if (forReshapeOnly && (h === 1 && w === 1 || c === 1)) return v.name;
    return this.emit('Transpose', [v.name], this.tmp(`${v.name}/nhwc`), { perm: attr.ints(NCHW_TO_NHWC) });
  }

  /** Records a tensor's stored shape so consumers (and onnxruntime) see it. */
  describe(v: Value): void {
    this.b.graph.valueInfo.push({ name: v.name, dtype: 'float32', shape: storedDims(v.shape) });
  }
}
