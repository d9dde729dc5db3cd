/** Shape, indexing, reduction and softmax ops in float64 (opset-aware where an attribute became an input). */
import type { Tensor } from '../../../src/onnx/types.js';
import type { OpContext, OpImpl } from './context.js';
import { attrOf, intAttr, intsAttr, intsInput, required } from './context.js';
import type { T64 } from './tensor.js';
import { broadcastDims, broadcastIndex, normAxis, size, stridesOf, transpose } from './tensor.js';

/** A tensor attribute or initializer as float64. */
export function fromTensor(t: Tensor): T64 {
  const src = t.data as ArrayLike<number | bigint>;
  const data = new Float64Array(src.length);
  for (let i = 0; i < src.length; i++) data[i] = Number(src[i]);
  return { dims: [...t.dims], data, int: t.dtype !== 'float32' && t.dtype !== 'float64' && t.dtype !== 'float16' };
}

const reshaped = (x: T64, dims: number[]): T64 => ({ dims, data: x.data, int: x.int });

/** Axes from the input (newer opsets) or the attribute (older ones). */
function axesOf(ctx: OpContext, inputIndex: number): number[] | undefined {
  return intsInput(ctx, inputIndex) ?? intsAttr(ctx.node, 'axes');
}

function reshape(ctx: OpContext): T64[] {
  const x = required(ctx, 0);
  const target = intsInput(ctx, 1) ?? intsAttr(ctx.node, 'shape')!;
  const dims = target.map((d, i) => (d === 0 && intAttr(ctx.node, 'allowzero', 0) === 0 ? x.dims[i] : d));
  const known = dims.reduce((p, d) => (d === -1 ? p : p * d), 1);
  return [reshaped(x, dims.map((d) => (d === -1 ? size(x.dims) / known : d)))];
}

function unsqueeze(ctx: OpContext): T64[] {
  const x = required(ctx, 0);
  const axes = axesOf(ctx, 1)!;
  const rank = x.dims.length + axes.length;
  const at = new Set(axes.map((a) => normAxis(a, rank)));
  const dims: number[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) dims.push(at.has(i) ? 1 : x.dims[k++]);
  return [reshaped(x, dims)];
}

function squeeze(ctx: OpContext): T64[] {
  const x = required(ctx, 0);
  const axes = axesOf(ctx, 1);
  const drop = new Set(axes ? axes.map((a) => normAxis(a, x.dims.length)) : x.dims.flatMap((d, i) => (d === 1 ? [i] : [])));
  return [reshaped(x, x.dims.filter((_, i) => !drop.has(i)))];
}

/** Copies a block [outer, axis-range, inner] along `axis`. */
function sliceAxis(x: T64, axis: number, start: number, length: number): T64 {
  const outer = size(x.dims.slice(0, axis));
  const inner = size(x.dims.slice(axis + 1));
  const dims = [...x.dims];
  dims[axis] = length;
  const out = new Float64Array(size(dims));
  for (let o = 0; o < outer; o++) {
    out.set(x.data.subarray((o * x.dims[axis] + start) * inner, (o * x.dims[axis] + start + length) * inner), o * length * inner);
  }
  return { dims, data: out, int: x.int };
}

function concat(ctx: OpContext): T64[] {
  const parts = ctx.inputs.filter((t): t is T64 => t !== undefined && size(t.dims) > 0);
  const axis = normAxis(intAttr(ctx.node, 'axis', 0), parts[0].dims.length);
  const dims = [...parts[0].dims];
  dims[axis] = parts.reduce((s, p) => s + p.dims[axis], 0);
  const outer = size(dims.slice(0, axis));
  const inner = size(dims.slice(axis + 1));
  const out = new Float64Array(size(dims));
  let offset = 0;
  for (const p of parts) {
    for (let o = 0; o < outer; o++) out.set(p.data.subarray(o * p.dims[axis] * inner, (o + 1) * p.dims[axis] * inner), (o * dims[axis] + offset) * inner);
    offset += p.dims[axis];
  }
  return [{ dims, data: out, int: parts.every((p) => p.int) }];
}

function split(ctx: OpContext): T64[] {
  const x = required(ctx, 0);
  const axis = normAxis(intAttr(ctx.node, 'axis', 0), x.dims.length);
  const n = ctx.node.outputs.length;
  const sizes = (ctx.opset >= 13 ? intsInput(ctx, 1) : intsAttr(ctx.node, 'split'))
    ?? Array.from({ length: n }, (_, i) => Math.min(Math.ceil(x.dims[axis] / n), x.dims[axis] - i * Math.ceil(x.dims[axis] / n)));
  let start = 0;
  return sizes.map((len) => {
    const part = sliceAxis(x, axis, start, len);
    start += len;
    return part;
  });
}

function slice(ctx: OpContext): T64[] {
  const x = required(ctx, 0);
  const old = ctx.opset < 10;
  const starts = old ? intsAttr(ctx.node, 'starts')! : intsInput(ctx, 1)!;
  const ends = old ? intsAttr(ctx.node, 'ends')! : intsInput(ctx, 2)!;
  const axes = (old ? intsAttr(ctx.node, 'axes') : intsInput(ctx, 3)) ?? starts.map((_, i) => i);
  const steps = (old ? undefined : intsInput(ctx, 4)) ?? starts.map(() => 1);
  const rank = x.dims.length;
  const first = new Array<number>(rank).fill(0);
  const step = new Array<number>(rank).fill(1);
  const dims = [...x.dims];
  axes.forEach((a, i) => {
    const ax = normAxis(a, rank);
    const d = x.dims[ax];
    const s = steps[i];
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    let b = starts[i] < 0 ? starts[i] + d : starts[i];
    let e = ends[i] < 0 ? ends[i] + d : ends[i];
    if (s > 0) {
      b = clamp(b, 0, d);
      e = clamp(e, 0, d);
      dims[ax] = Math.max(0, Math.ceil((e - b) / s));
    } else {
      b = clamp(b, -1, d - 1);
      e = clamp(e, -1, d - 1);
      dims[ax] = Math.max(0, Math.ceil((b - e) / -s));
    }
    first[ax] = b;
    step[ax] = s;
  });
  return [gatherStrided(x, dims, first, step)];
}

/** out[i…] = x[first + i·step …]. */
function gatherStrided(x: T64, dims: number[], first: number[], step: number[]): T64 {
  const src = stridesOf(x.dims);
  const n = size(dims);
  const out = new Float64Array(n);
  const counter = new Array<number>(dims.length).fill(0);
  let at = first.reduce((s, f, k) => s + f * src[k], 0);
  for (let i = 0; i < n; i++) {
    out[i] = x.data[at];
    for (let k = dims.length - 1; k >= 0; k--) {
      counter[k]++;
      at += step[k] * src[k];
      if (counter[k] < dims[k]) break;
      at -= step[k] * src[k] * dims[k];
      counter[k] = 0;
    }
  }
  return { dims, data: out, int: x.int };
}

function pad(ctx: OpContext): T64[] {
  const x = required(ctx, 0);
  const mode = attrOf(ctx.node, 'mode');
  if (mode && mode.type === 'string' && mode.value !== 'constant') throw new Error(`f64: Pad mode ${mode.value} is not implemented`);
  const pads = ctx.opset >= 11 ? intsInput(ctx, 1)! : intsAttr(ctx.node, 'pads')!;
  const value = ctx.opset >= 11 ? (ctx.inputs[2]?.data[0] ?? 0) : (attrOf(ctx.node, 'value')?.value as number | undefined) ?? 0;
  const rank = x.dims.length;
  const dims = x.dims.map((d, i) => d + pads[i] + pads[i + rank]);
  const out = new Float64Array(size(dims)).fill(value);
  const src = stridesOf(x.dims);
  const dst = stridesOf(dims);
  for (let i = 0; i < x.data.length; i++) {
    let o = 0;
    let inside = true;
    for (let k = 0; k < rank; k++) {
      const c = Math.floor(i / src[k]) % x.dims[k] + pads[k];
      if (c < 0 || c >= dims[k]) inside = false;
      o += c * dst[k];
    }
    if (inside) out[o] = x.data[i];
  }
  return [{ dims, data: out, int: x.int }];
}

function gather(ctx: OpContext): T64[] {
  const x = required(ctx, 0);
  const indices = required(ctx, 1);
  const axis = normAxis(intAttr(ctx.node, 'axis', 0), x.dims.length);
  const outer = size(x.dims.slice(0, axis));
  const inner = size(x.dims.slice(axis + 1));
  const n = indices.data.length;
  const dims = [...x.dims.slice(0, axis), ...indices.dims, ...x.dims.slice(axis + 1)];
  const out = new Float64Array(size(dims));
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < n; j++) {
      const idx = normAxis(indices.data[j], x.dims[axis]);
      out.set(x.data.subarray((o * x.dims[axis] + idx) * inner, (o * x.dims[axis] + idx + 1) * inner), (o * n + j) * inner);
    }
  }
  return [{ dims, data: out, int: x.int }];
}

function expand(ctx: OpContext): T64[] {
  const x = required(ctx, 0);
  const dims = broadcastDims([x.dims, intsInput(ctx, 1)!]);
  const idx = broadcastIndex(x.dims, dims);
  return [{ dims, data: Float64Array.from(idx, (i) => x.data[i]), int: x.int }];
}

type Reducer = 'sum' | 'mean' | 'sumSquare' | 'max';

/** Reductions; axes is an input from opset 13 (ReduceSum) or 18 (the others), an attribute before. */
function reduce(kind: Reducer, axesInputFrom: number): OpImpl {
  return (ctx) => {
    const x = required(ctx, 0);
    const rank = x.dims.length;
    const given = ctx.opset >= axesInputFrom ? intsInput(ctx, 1) : intsAttr(ctx.node, 'axes');
    if ((!given || given.length === 0) && intAttr(ctx.node, 'noop_with_empty_axes', 0) === 1) return [x];
    const axes = new Set((given && given.length > 0 ? given : x.dims.map((_, i) => i)).map((a) => normAxis(a, rank)));
    const keep = intAttr(ctx.node, 'keepdims', 1) === 1;
    const keptDims = x.dims.map((d, i) => (axes.has(i) ? 1 : d));
    const out = new Float64Array(size(keptDims)).fill(kind === 'max' ? -Infinity : 0);
    const idx = broadcastIndex(keptDims, x.dims);
    for (let i = 0; i < x.data.length; i++) {
      const v = x.data[i];
      if (kind === 'max') out[idx[i]] = Math.max(out[idx[i]], v);
      else out[idx[i]] += kind === 'sumSquare' ? v * v : v;
    }
    if (kind === 'mean') {
      const count = x.data.length / out.length;
      for (let i = 0; i < out.length; i++) out[i] /= count;
    }
    return [{ dims: keep ? keptDims : x.dims.filter((_, i) => !axes.has(i)), data: out, int: x.int }];
  };
}

/** Softmax / LogSoftmax: over one axis from opset 13, over the flattened trailing axes [axis, …) before. */
function softmax(log: boolean): OpImpl {
  return (ctx) => {
    const x = required(ctx, 0);
    const rank = x.dims.length;
    const axis = normAxis(intAttr(ctx.node, 'axis', ctx.opset >= 13 ? -1 : 1), rank);
    const moved = ctx.opset >= 13 && axis !== rank - 1;
    const perm = x.dims.map((_, i) => i);
    perm.splice(axis, 1);
    perm.push(axis);
    const src = moved ? transpose(x, perm) : x;
    const row = ctx.opset >= 13 ? x.dims[axis] : size(x.dims.slice(axis));
    const out = new Float64Array(src.data.length);
    for (let r = 0; r < out.length; r += row) {
      let max = -Infinity;
      for (let j = 0; j < row; j++) max = Math.max(max, src.data[r + j]);
      let sum = 0;
      for (let j = 0; j < row; j++) sum += Math.exp(src.data[r + j] - max);
      for (let j = 0; j < row; j++) out[r + j] = log ? src.data[r + j] - max - Math.log(sum) : Math.exp(src.data[r + j] - max) / sum;
    }
    const result = { dims: src.dims, data: out };
    if (!moved) return [result];
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return [transpose(result, inverse)];
  };
}

export const SHAPE_OPS: Record<string, OpImpl> = {
  Shape: (ctx) => {
    const x = required(ctx, 0);
    return [{ dims: [x.dims.length], data: Float64Array.from(x.dims), int: true }];
  },
  Size: (ctx) => [{ dims: [], data: Float64Array.of(size(required(ctx, 0).dims)), int: true }],
  Constant: (ctx) => [fromTensor(attrOf(ctx.node, 'value')!.value as Tensor)],
  ConstantOfShape: (ctx) => {
    const value = attrOf(ctx.node, 'value');
    const t = value ? fromTensor(value.value as Tensor) : { dims: [1], data: Float64Array.of(0), int: false };
    const dims = intsInput(ctx, 0)!;
    return [{ dims, data: new Float64Array(size(dims)).fill(t.data[0]), int: t.int }];
  },
  Reshape: reshape,
  Flatten: (ctx) => {
    const x = required(ctx, 0);
    const axis = normAxis(intAttr(ctx.node, 'axis', 1), x.dims.length);
    return [reshaped(x, [size(x.dims.slice(0, axis)), size(x.dims.slice(axis))])];
  },
  Unsqueeze: unsqueeze,
  Squeeze: squeeze,
  Transpose: (ctx) => {
    const x = required(ctx, 0);
    return [transpose(x, intsAttr(ctx.node, 'perm') ?? x.dims.map((_, i) => x.dims.length - 1 - i))];
  },
  Concat: concat,
  Split: split,
  Slice: slice,
  Pad: pad,
  Gather: gather,
  Expand: expand,
  ReduceSum: reduce('sum', 13),
  ReduceMean: reduce('mean', 18),
  ReduceSumSquare: reduce('sumSquare', 18),
  Softmax: softmax(false),
  LogSoftmax: softmax(true),
};
