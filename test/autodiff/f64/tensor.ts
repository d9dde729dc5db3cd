/** float64 tensors of the reference interpreter: dims + a Float64Array (integer and bool tensors too, as exact small numbers). */

export interface T64 {
  dims: number[];
  data: Float64Array;
  /** An integer (or bool) tensor: Div truncates. */
  int?: boolean;
}

export const t64 = (dims: number[], data: Float64Array): T64 => ({ dims, data });

export function size(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

export const normAxis = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

/** Numpy broadcast of several shapes. */
export function broadcastDims(shapes: number[][]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const k = rank - s.length + i;
      if (s[i] === out[k] || s[i] === 1) continue;
      if (out[k] !== 1) throw new Error(`f64: cannot broadcast ${JSON.stringify(shapes)}`);
      out[k] = s[i];
    }
  }
  return out;
}

/** For every element of `outDims`, the flat index into a tensor of `dims` broadcast to it. */
export function broadcastIndex(dims: readonly number[], outDims: readonly number[]): Int32Array {
  const n = size(outDims);
  const idx = new Int32Array(n);
  const rank = outDims.length;
  const src = stridesOf(dims);
  const step = new Array<number>(rank).fill(0);
  for (let i = 0; i < dims.length; i++) step[rank - dims.length + i] = dims[i] === 1 ? 0 : src[i];
  const counter = new Array<number>(rank).fill(0);
  let at = 0;
  for (let i = 0; i < n; i++) {
    idx[i] = at;
    for (let k = rank - 1; k >= 0; k--) {
      counter[k]++;
      at += step[k];
      if (counter[k] < outDims[k]) break;
      at -= step[k] * outDims[k];
      counter[k] = 0;
    }
  }
  return idx;
}

/** Elementwise map over broadcast operands. */
export function broadcastMap(inputs: T64[], f: (values: number[], i: number) => number): T64 {
  const dims = broadcastDims(inputs.map((t) => t.dims));
  const n = size(dims);
  const idx = inputs.map((t) => broadcastIndex(t.dims, dims));
  const out = new Float64Array(n);
  const vals = new Array<number>(inputs.length);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < inputs.length; k++) vals[k] = inputs[k].data[idx[k][i]];
    out[i] = f(vals, i);
  }
  return { dims, data: out };
}

/** Permutes axes. */
export function transpose(x: T64, perm: number[]): T64 {
  const dims = perm.map((p) => x.dims[p]);
  const src = stridesOf(x.dims);
  const permuted = dims.map((d, i) => ({ d, s: src[perm[i]] }));
  const n = size(dims);
  const out = new Float64Array(n);
  const counter = new Array<number>(dims.length).fill(0);
  let at = 0;
  for (let i = 0; i < n; i++) {
    out[i] = x.data[at];
    for (let k = dims.length - 1; k >= 0; k--) {
      counter[k]++;
      at += permuted[k].s;
      if (counter[k] < permuted[k].d) break;
      at -= permuted[k].s * permuted[k].d;
      counter[k] = 0;
    }
  }
  return { dims, data: out };
}
