/**
 * Affine resampling about the image centre with bilinear interpolation and edge-clamped coordinates:
 * out(q) = in(c + A·(q − c)). Linear in the image, so its adjoint scatters the same weights back.
 */
import { zeroPlanes } from '../../../image/planes.js';
import type { AppliedTransform } from './transform.js';

/** A = [[a, b], [c, d]] acting on (y, x). */
export type Matrix2 = [number, number, number, number];

interface Taps { index: Int32Array; weight: Float32Array }

function bilinearTaps(height: number, width: number, [a, b, c, d]: Matrix2): Taps {
  const cy = (height - 1) / 2;
  const cx = (width - 1) / 2;
  const n = height * width;
  const index = new Int32Array(4 * n);
  const weight = new Float32Array(4 * n);
  const clamp = (v: number, hi: number) => Math.min(hi, Math.max(0, v));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const sy = clamp(cy + a * (y - cy) + b * (x - cx), height - 1);
      const sx = clamp(cx + c * (y - cy) + d * (x - cx), width - 1);
      const y0 = Math.floor(sy);
      const x0 = Math.floor(sx);
      const y1 = Math.min(height - 1, y0 + 1);
      const x1 = Math.min(width - 1, x0 + 1);
      const fy = sy - y0;
      const fx = sx - x0;
      const k = 4 * (y * width + x);
      index.set([y0 * width + x0, y0 * width + x1, y1 * width + x0, y1 * width + x1], k);
      weight.set([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx], k);
    }
  }
  return { index, weight };
}

/** The resampling as an applied transform (same size in and out). */
export function affineWarp(matrix: Matrix2): AppliedTransform {
  let cached: { h: number; w: number; taps: Taps } | undefined;
  const tapsFor = (h: number, w: number) => {
    if (!cached || cached.h !== h || cached.w !== w) cached = { h, w, taps: bilinearTaps(h, w, matrix) };
    return cached.taps;
  };
  return {
    forward(x) {
      const { index, weight } = tapsFor(x.height, x.width);
      const out = zeroPlanes(x.channels, x.height, x.width);
      const plane = x.height * x.width;
      for (let ch = 0; ch < x.channels; ch++) {
        const src = x.data.subarray(ch * plane, (ch + 1) * plane);
        const dst = out.data.subarray(ch * plane, (ch + 1) * plane);
        for (let i = 0; i < plane; i++) {
          const k = 4 * i;
          dst[i] = weight[k] * src[index[k]] + weight[k + 1] * src[index[k + 1]] + weight[k + 2] * src[index[k + 2]] + weight[k + 3] * src[index[k + 3]];
        }
      }
      return out;
    },
    backward(g) {
      const { index, weight } = tapsFor(g.height, g.width);
      const out = zeroPlanes(g.channels, g.height, g.width);
      const plane = g.height * g.width;
      for (let ch = 0; ch < g.channels; ch++) {
        const src = g.data.subarray(ch * plane, (ch + 1) * plane);
        const dst = out.data.subarray(ch * plane, (ch + 1) * plane);
        for (let i = 0; i < plane; i++) {
          const k = 4 * i;
          const v = src[i];
          dst[index[k]] += weight[k] * v;
          dst[index[k + 1]] += weight[k + 1] * v;
          dst[index[k + 2]] += weight[k + 2] * v;
          dst[index[k + 3]] += weight[k + 3] * v;
        }
      }
      return out;
    },
  };
}
