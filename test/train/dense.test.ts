import { test } from 'node:test';
import assert from 'node:assert/strict';
import { denseBackwardInput, denseBackwardParams, denseForward } from '../../src/train/dense.js';
import { Rng } from '../../src/util/rng.js';

const rng = new Rng(21);
const rand = (len: number) => Float32Array.from({ length: len }, () => rng.normal());
const close = (a: number, b: number) => Math.abs(a - b) <= 1e-12 * (1 + Math.abs(b));

// Every remainder of the 4-row / 2-output / 2-row / 4-output tiles, against the textbook triple loops.
test('tiled dense kernels equal the naive loops for all tile remainders', () => {
  for (const n of [1, 2, 3, 4, 5, 7, 9]) {
    for (const outDim of [1, 2, 3, 4, 5, 7]) {
      const inDim = 6;
      const x = rand(n * inDim);
      const w = rand(outDim * inDim);
      const b = rand(outDim);
      const g = Float64Array.from(rand(n * outDim));
      const out = new Float64Array(n * outDim);
      denseForward(x, n, w, b, inDim, outDim, out);
      const dW = new Float64Array(outDim * inDim).fill(0.5);
      const dB = new Float64Array(outDim).fill(0.25);
      denseBackwardParams(x, n, g, inDim, outDim, dW, dB);
      const dX = new Float64Array(n * inDim).fill(9);
      denseBackwardInput(g, n, w, inDim, outDim, dX);
      for (let i = 0; i < n; i++) {
        for (let o = 0; o < outDim; o++) {
          let s = b[o];
          for (let k = 0; k < inDim; k++) s += x[i * inDim + k] * w[o * inDim + k];
          assert.ok(close(out[i * outDim + o], s), `forward n=${n} out=${outDim}`);
        }
        for (let k = 0; k < inDim; k++) {
          let s = 0;
          for (let o = 0; o < outDim; o++) s += g[i * outDim + o] * w[o * inDim + k];
          assert.ok(close(dX[i * inDim + k], s), `dX n=${n} out=${outDim}`);
        }
      }
      for (let o = 0; o < outDim; o++) {
        let sb = 0.25;
        for (let i = 0; i < n; i++) sb += g[i * outDim + o];
        assert.ok(close(dB[o], sb), `dB n=${n} out=${outDim}`);
        for (let k = 0; k < inDim; k++) {
          let s = 0.5; // accumulates onto what was there
          for (let i = 0; i < n; i++) s += g[i * outDim + o] * x[i * inDim + k];
          assert.ok(close(dW[o * inDim + k], s), `dW n=${n} out=${outDim}`);
        }
      }
    }
  }
});
