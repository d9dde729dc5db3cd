/** Convolution, pooling, normalisation and matrix products in float64, written from the ONNX operator spec. */
import type { OpContext, OpImpl } from './context.js';
import { floatAttr, intAttr, intsAttr, required, stringAttr } from './context.js';
import type { T64 } from './tensor.js';
import { broadcastIndex, size } from './tensor.js';

/** Window geometry over 2 spatial axes (a 1-D op gets a leading unit axis). */
interface Window {
  inH: number;
  inW: number;
  k: [number, number];
  s: [number, number];
  d: [number, number];
  /** Head pads [top, left] (the tail pads only shape the output size). */
  head: [number, number];
  /** Tail pads [bottom, right]. */
  tail: [number, number];
  out: [number, number];
}

/** Resolves kernel/strides/dilations/pads/auto_pad/ceil_mode into a 2-D window. */
function windowOf(ctx: OpContext, spatial: number[], kernel: number[], ceil = false): Window {
  const node = ctx.node;
  const r = spatial.length;
  if (r > 2) throw new Error(`f64: ${node.opType} over ${r} spatial axes is not implemented`);
  const strides = intsAttr(node, 'strides') ?? kernel.map(() => 1);
  const dilations = intsAttr(node, 'dilations') ?? kernel.map(() => 1);
  const autoPad = stringAttr(node, 'auto_pad', 'NOTSET');
  let pads = intsAttr(node, 'pads') ?? new Array<number>(2 * r).fill(0);
  if (autoPad === 'VALID') pads = new Array<number>(2 * r).fill(0);
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    pads = new Array<number>(2 * r).fill(0);
    for (let i = 0; i < r; i++) {
      const out = Math.ceil(spatial[i] / strides[i]);
      const total = Math.max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - spatial[i]);
      pads[i] = autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : total - Math.floor(total / 2);
      pads[i + r] = total - pads[i];
    }
  }
  const out = spatial.map((n, i) => {
    const span = (kernel[i] - 1) * dilations[i] + 1;
    const room = n + pads[i] + pads[i + r] - span;
    let o = (ceil ? Math.ceil(room / strides[i]) : Math.floor(room / strides[i])) + 1;
    // A ceil-mode window must start inside the input or the head padding.
    if (ceil && (o - 1) * strides[i] >= n + pads[i]) o--;
    return o;
  });
  const two = (v: number[], fill: number): [number, number] => (r === 1 ? [fill, v[0]] : [v[0], v[1]]);
  return {
    inH: r === 1 ? 1 : spatial[0], inW: spatial[r - 1],
    k: two(kernel, 1), s: two(strides, 1), d: two(dilations, 1), head: two(pads.slice(0, r), 0), tail: two(pads.slice(r), 0), out: two(out, 1),
  };
}

const TILE = 64;

/** Conv as im2col + matrix product per image and group (the inner loop runs over contiguous output pixels). */
function conv(ctx: OpContext): T64[] {
  const x = required(ctx, 0);
  const w = required(ctx, 1);
  const bias = ctx.inputs[2];
  const [n, cin] = x.dims;
  const cout = w.dims[0];
  const group = intAttr(ctx.node, 'group', 1);
  const win = windowOf(ctx, x.dims.slice(2), intsAttr(ctx.node, 'kernel_shape') ?? w.dims.slice(2));
  const { inH, inW, k: [kh, kw], s: [sh, sw], d: [dh, dw], head: [ph, pw], out: [oh, ow] } = win;
  const cinG = cin / group;
  const coutG = cout / group;
  const plane = oh * ow;
  const rows = cinG * kh * kw;
  const out = new Float64Array(n * cout * plane);
  const pointwise = kh === 1 && kw === 1 && sh === 1 && sw === 1 && ph === 0 && pw === 0 && oh === inH && ow === inW;
  const col = new Float64Array(pointwise ? 0 : rows * plane);
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < group; g++) {
      // A 1×1, stride-1, unpadded convolution reads the input planes as they are.
      const src = pointwise ? x.data.subarray((b * cin + g * cinG) * plane, (b * cin + (g + 1) * cinG) * plane) : col;
      if (!pointwise) col.fill(0);
      for (let ic = 0; ic < (pointwise ? 0 : cinG); ic++) {
        const xc = (b * cin + g * cinG + ic) * inH * inW;
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            const r = ((ic * kh + i) * kw + j) * plane;
            const x0 = j * dw - pw;
            const owLo = Math.max(0, Math.ceil(-x0 / sw));
            const owHi = Math.min(ow - 1, Math.floor((inW - 1 - x0) / sw));
            for (let y = 0; y < oh; y++) {
              const iy = y * sh - ph + i * dh;
              if (iy < 0 || iy >= inH) continue;
              const from = xc + iy * inW + x0;
              const dst = r + y * ow;
              for (let xo = owLo; xo <= owHi; xo++) col[dst + xo] = x.data[from + xo * sw];
            }
          }
        }
      }
      // Tiles of TILE output pixels keep the im2col rows being read in cache across all output channels.
      for (let p0 = 0; p0 < plane; p0 += TILE) {
        const p1 = Math.min(plane, p0 + TILE);
        for (let oc = g * coutG; oc < (g + 1) * coutG; oc++) {
          const o = (b * cout + oc) * plane;
          if (bias) out.fill(bias.data[oc], o + p0, o + p1);
          for (let q = 0; q < rows; q++) {
            const wv = w.data[oc * rows + q];
            const c = q * plane - o;
            for (let p = o + p0; p < o + p1; p++) out[p] += wv * src[c + p];
          }
        }
      }
    }
  }
  return [{ dims: [n, cout, ...(x.dims.length === 3 ? [ow] : [oh, ow])], data: out }];
}

function convTranspose(ctx: OpContext): T64[] {
  const x = required(ctx, 0);
  const w = required(ctx, 1);
  const bias = ctx.inputs[2];
  const node = ctx.node;
  if (x.dims.length !== 4) throw new Error('f64: ConvTranspose is implemented for 2-D only');
  if (stringAttr(node, 'auto_pad', 'NOTSET') !== 'NOTSET' || intsAttr(node, 'output_shape')) throw new Error('f64: ConvTranspose auto_pad/output_shape are not implemented');
  const [n, cin, inH, inW] = x.dims;
  const group = intAttr(node, 'group', 1);
  const coutG = w.dims[1];
  const cout = coutG * group;
  const cinG = cin / group;
  const [kh, kw] = intsAttr(node, 'kernel_shape') ?? w.dims.slice(2);
  const [sh, sw] = intsAttr(node, 'strides') ?? [1, 1];
  const [dh, dw] = intsAttr(node, 'dilations') ?? [1, 1];
  const pads = intsAttr(node, 'pads') ?? [0, 0, 0, 0];
  const [eh, ew] = intsAttr(node, 'output_padding') ?? [0, 0];
  const oh = sh * (inH - 1) + eh + (kh - 1) * dh + 1 - pads[0] - pads[2];
  const ow = sw * (inW - 1) + ew + (kw - 1) * dw + 1 - pads[1] - pads[3];
  const out = new Float64Array(n * cout * oh * ow);
  for (let b = 0; b < n; b++) {
    for (let c = 0; c < cin; c++) {
      const g = Math.floor(c / cinG);
      for (let oc = 0; oc < coutG; oc++) {
        const o = (b * cout + g * coutG + oc) * oh * ow;
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            const wv = w.data[((c * coutG + oc) * kh + i) * kw + j];
            for (let y = 0; y < inH; y++) {
              const oy = y * sh + i * dh - pads[0];
              if (oy < 0 || oy >= oh) continue;
              for (let xi = 0; xi < inW; xi++) {
                const ox = xi * sw + j * dw - pads[1];
                if (ox < 0 || ox >= ow) continue;
                out[o + oy * ow + ox] += wv * x.data[((b * cin + c) * inH + y) * inW + xi];
              }
            }
          }
        }
      }
    }
    if (bias) for (let oc = 0; oc < cout; oc++) out.subarray((b * cout + oc) * oh * ow, (b * cout + oc + 1) * oh * ow).forEach((v, i, a) => (a[i] = v + bias.data[oc]));
  }
  return [{ dims: [n, cout, oh, ow], data: out }];
}

function batchNormalization(ctx: OpContext): T64[] {
  if (intAttr(ctx.node, 'training_mode', 0) !== 0) throw new Error('f64: BatchNormalization training_mode is not implemented');
  const [x, scale, bias, mean, variance] = [0, 1, 2, 3, 4].map((i) => required(ctx, i));
  const eps = floatAttr(ctx.node, 'epsilon', 1e-5);
  const [n, c] = x.dims;
  const inner = size(x.dims.slice(2));
  const out = new Float64Array(x.data.length);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const a = scale.data[ch] / Math.sqrt(variance.data[ch] + eps);
      const shift = bias.data[ch] - a * mean.data[ch];
      const at = (b * c + ch) * inner;
      for (let i = 0; i < inner; i++) out[at + i] = a * x.data[at + i] + shift;
    }
  }
  return [{ dims: [...x.dims], data: out }];
}

/**
 * Max pooling; every window reports the gap between its winner and the largest smaller value (the distance to
 * a change of argmax, where the gradient jumps to another input) and the winner's position as its piece.
 * Exact ties are not kinks: in a float64 forward of random inputs they arise only from clamped constants
 * (ReLU zeros, ReLU6 sixes), which stay tied under any perturbation and have zero gradient; a tie of values
 * that do move would split under a finite-difference step and fail the piece-pattern check.
 */
function maxPoolWindows(ctx: OpContext, x: T64, win: Window): T64 {
  const [n, c] = x.dims;
  const { inH, inW, k: [kh, kw], s: [sh, sw], d: [dh, dw], head: [ph, pw], out: [oh, ow] } = win;
  const out = new Float64Array(n * c * oh * ow);
  const monitor = ctx.kinks?.begin(ctx.node.opType);
  for (let p = 0; p < n * c; p++) {
    const base = p * inH * inW;
    for (let y = 0; y < oh; y++) {
      for (let xo = 0; xo < ow; xo++) {
        let best = -Infinity;
        let second = -Infinity;
        let at = -1;
        for (let i = 0; i < kh; i++) {
          const iy = y * sh - ph + i * dh;
          if (iy < 0 || iy >= inH) continue;
          for (let j = 0; j < kw; j++) {
            const ix = xo * sw - pw + j * dw;
            if (ix < 0 || ix >= inW) continue;
            const v = x.data[base + iy * inW + ix];
            if (v > best) {
              second = best;
              best = v;
              at = i * kw + j;
            } else if (v > second && v < best) second = v;
          }
        }
        out[(p * oh + y) * ow + xo] = best;
        monitor?.record(best - second, at);
      }
    }
  }
  monitor?.done();
  return { dims: x.dims.length === 3 ? [n, c, ow] : [n, c, oh, ow], data: out };
}

function maxPool(ctx: OpContext): T64[] {
  const x = required(ctx, 0);
  const win = windowOf(ctx, x.dims.slice(2), intsAttr(ctx.node, 'kernel_shape')!, intAttr(ctx.node, 'ceil_mode', 0) === 1);
  return [maxPoolWindows(ctx, x, win)];
}

function averagePool(ctx: OpContext): T64[] {
  const x = required(ctx, 0);
  const spatial = x.dims.slice(2);
  const kernel = intsAttr(ctx.node, 'kernel_shape')!;
  const win = windowOf(ctx, spatial, kernel, intAttr(ctx.node, 'ceil_mode', 0) === 1);
  const includePad = intAttr(ctx.node, 'count_include_pad', 0) === 1;
  const [n, c] = x.dims;
  // With count_include_pad a window counts the padding it covers, not the part beyond the tail pads (ceil_mode).
  const { inH, inW, k: [kh, kw], s: [sh, sw], head: [ph, pw], tail, out: [oh, ow] } = win;
  const out = new Float64Array(n * c * oh * ow);
  for (let p = 0; p < n * c; p++) {
    for (let y = 0; y < oh; y++) {
      const y0 = y * sh - ph;
      const y1 = Math.min(y0 + kh, inH + tail[0]);
      for (let xo = 0; xo < ow; xo++) {
        const x0 = xo * sw - pw;
        const x1 = Math.min(x0 + kw, inW + tail[1]);
        let sum = 0;
        let count = 0;
        for (let iy = Math.max(0, y0); iy < Math.min(y1, inH); iy++) {
          for (let ix = Math.max(0, x0); ix < Math.min(x1, inW); ix++) {
            sum += x.data[(p * inH + iy) * inW + ix];
            count++;
          }
        }
        out[(p * oh + y) * ow + xo] = sum / (includePad ? (y1 - y0) * (x1 - x0) : count);
      }
    }
  }
  return [{ dims: x.dims.length === 3 ? [n, c, ow] : [n, c, oh, ow], data: out }];
}

function globalPool(kind: 'avg' | 'max'): OpImpl {
  return (ctx) => {
    const x = required(ctx, 0);
    const [n, c] = x.dims;
    const inner = size(x.dims.slice(2));
    const outDims = [n, c, ...x.dims.slice(2).map(() => 1)];
    if (kind === 'max') {
      const win: Window = { inH: 1, inW: inner, k: [1, inner], s: [1, 1], d: [1, 1], head: [0, 0], tail: [0, 0], out: [1, 1] };
      return [{ dims: outDims, data: maxPoolWindows(ctx, { dims: [n, c, 1, inner], data: x.data }, win).data }];
    }
    const out = new Float64Array(n * c);
    for (let p = 0; p < n * c; p++) {
      let s = 0;
      for (let i = 0; i < inner; i++) s += x.data[p * inner + i];
      out[p] = s / inner;
    }
    return [{ dims: outDims, data: out }];
  };
}

/** Numpy matmul: 1-D operands are promoted and the promoted axis dropped; batch axes broadcast. */
function matMul(ctx: OpContext): T64[] {
  const a = required(ctx, 0);
  const b = required(ctx, 1);
  const aDims = a.dims.length === 1 ? [1, a.dims[0]] : a.dims;
  const bDims = b.dims.length === 1 ? [b.dims[0], 1] : b.dims;
  const [m, k] = aDims.slice(-2);
  const nCols = bDims[bDims.length - 1];
  const aBatch = aDims.slice(0, -2);
  const bBatch = bDims.slice(0, -2);
  const rank = Math.max(aBatch.length, bBatch.length);
  const batch = Array.from({ length: rank }, (_, i) => {
    const p = aBatch[i - (rank - aBatch.length)] ?? 1;
    const q = bBatch[i - (rank - bBatch.length)] ?? 1;
    return Math.max(p, q);
  });
  const aIdx = broadcastIndex(aBatch, batch);
  const bIdx = broadcastIndex(bBatch, batch);
  const count = size(batch);
  const out = new Float64Array(count * m * nCols);
  for (let t = 0; t < count; t++) {
    const ao = aIdx[t] * m * k;
    const bo = bIdx[t] * k * nCols;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < nCols; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) s += a.data[ao + i * k + q] * b.data[bo + q * nCols + j];
        out[(t * m + i) * nCols + j] = s;
      }
    }
  }
  const dims = [...batch, ...(a.dims.length === 1 ? [] : [m]), ...(b.dims.length === 1 ? [] : [nCols])];
  return [{ dims, data: out }];
}

function gemm(ctx: OpContext): T64[] {
  const a = required(ctx, 0);
  const b = required(ctx, 1);
  const c = ctx.inputs[2];
  const ta = intAttr(ctx.node, 'transA', 0) === 1;
  const tb = intAttr(ctx.node, 'transB', 0) === 1;
  const alpha = floatAttr(ctx.node, 'alpha', 1);
  const beta = floatAttr(ctx.node, 'beta', 1);
  const [m, k] = ta ? [a.dims[1], a.dims[0]] : a.dims;
  const n = tb ? b.dims[0] : b.dims[1];
  const out = new Float64Array(m * n);
  const cIdx = c ? broadcastIndex(c.dims, [m, n]) : undefined;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let q = 0; q < k; q++) s += a.data[ta ? q * m + i : i * k + q] * b.data[tb ? j * k + q : q * n + j];
      out[i * n + j] = alpha * s + (c && cIdx ? beta * c.data[cIdx[i * n + j]] : 0);
    }
  }
  return [{ dims: [m, n], data: out }];
}

export const NN_OPS: Record<string, OpImpl> = {
  Conv: conv,
  ConvTranspose: convTranspose,
  BatchNormalization: batchNormalization,
  MaxPool: maxPool,
  AveragePool: averagePool,
  GlobalAveragePool: globalPool('avg'),
  GlobalMaxPool: globalPool('max'),
  MatMul: matMul,
  Gemm: gemm,
};
