/**
 * Fully connected layer kernels on row-major matrices: weight [out, in] (PyTorch / ONNX Gemm transB=1 layout),
 * bias [out]. Arithmetic is float64; inner loops are unrolled by four so each load feeds four multiply-adds.
 */
import type { FloatArray } from './loss.js';

/** out[i, o] = bias[o] + Σ_k x[i, k] · weight[o, k] for i < n. */
export function denseForward(
  x: FloatArray,
  n: number,
  weight: Float32Array,
  bias: Float32Array,
  inDim: number,
  outDim: number,
  out: FloatArray,
): void {
  const o4 = outDim - (outDim % 4);
  for (let i = 0; i < n; i++) {
    const xi = i * inDim;
    const oi = i * outDim;
    let o = 0;
    for (; o < o4; o += 4) {
      const w0 = o * inDim;
      const w1 = w0 + inDim;
      const w2 = w1 + inDim;
      const w3 = w2 + inDim;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let k = 0; k < inDim; k++) {
        const v = x[xi + k];
        s0 += v * weight[w0 + k];
        s1 += v * weight[w1 + k];
        s2 += v * weight[w2 + k];
        s3 += v * weight[w3 + k];
      }
      out[oi + o] = s0 + bias[o];
      out[oi + o + 1] = s1 + bias[o + 1];
      out[oi + o + 2] = s2 + bias[o + 2];
      out[oi + o + 3] = s3 + bias[o + 3];
    }
    for (; o < outDim; o++) {
      const w0 = o * inDim;
      let s = 0;
      for (let k = 0; k < inDim; k++) s += x[xi + k] * weight[w0 + k];
      out[oi + o] = s + bias[o];
    }
  }
}

/** Accumulates dWeight[o, k] += Σ_i dOut[i, o] · x[i, k] and dBias[o] += Σ_i dOut[i, o]. */
export function denseBackwardParams(
  x: FloatArray,
  n: number,
  dOut: Float64Array,
  inDim: number,
  outDim: number,
  dWeight: Float64Array,
  dBias: Float64Array,
): void {
  const n4 = n - (n % 4);
  for (let o = 0; o < outDim; o++) {
    const wo = o * inDim;
    let i = 0;
    for (; i < n4; i += 4) {
      const g0 = dOut[i * outDim + o];
      const g1 = dOut[(i + 1) * outDim + o];
      const g2 = dOut[(i + 2) * outDim + o];
      const g3 = dOut[(i + 3) * outDim + o];
      dBias[o] += g0 + g1 + g2 + g3;
      if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0) continue;
      const x0 = i * inDim;
      const x1 = x0 + inDim;
      const x2 = x1 + inDim;
      const x3 = x2 + inDim;
      for (let k = 0; k < inDim; k++) {
        dWeight[wo + k] += g0 * x[x0 + k] + g1 * x[x1 + k] + g2 * x[x2 + k] + g3 * x[x3 + k];
      }
    }
    for (; i < n; i++) {
      const g = dOut[i * outDim + o];
      dBias[o] += g;
      if (g === 0) continue;
      const xi = i * inDim;
      for (let k = 0; k < inDim; k++) dWeight[wo + k] += g * x[xi + k];
    }
  }
}

/** dX[i, k] = Σ_o dOut[i, o] · weight[o, k] (overwrites dX). */
export function denseBackwardInput(
  dOut: Float64Array,
  n: number,
  weight: Float32Array,
  inDim: number,
  outDim: number,
  dX: Float64Array,
): void {
  dX.fill(0, 0, n * inDim);
  const o4 = outDim - (outDim % 4);
  for (let i = 0; i < n; i++) {
    const xi = i * inDim;
    const gi = i * outDim;
    let o = 0;
    for (; o < o4; o += 4) {
      const g0 = dOut[gi + o];
      const g1 = dOut[gi + o + 1];
      const g2 = dOut[gi + o + 2];
      const g3 = dOut[gi + o + 3];
      if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0) continue;
      const w0 = o * inDim;
      const w1 = w0 + inDim;
      const w2 = w1 + inDim;
      const w3 = w2 + inDim;
      for (let k = 0; k < inDim; k++) {
        dX[xi + k] += g0 * weight[w0 + k] + g1 * weight[w1 + k] + g2 * weight[w2 + k] + g3 * weight[w3 + k];
      }
    }
    for (; o < outDim; o++) {
      const g = dOut[gi + o];
      if (g === 0) continue;
      const w0 = o * inDim;
      for (let k = 0; k < inDim; k++) dX[xi + k] += g * weight[w0 + k];
    }
  }
}
