/** RGB in [0, 1] ↔ network input units (value = (rgb − mean) / std, in the network's channel order), on CHW planes. */
import type { Preprocess } from '../../image/preprocess.js';
import type { Planes } from './planes.js';

function rgbIndex(pre: Preprocess, c: number): number {
  return pre.channelOrder === 'bgr' ? 2 - c : c;
}

/** RGB planes in [0, 1] → network planes. */
export function normalise(rgb: Planes, pre: Preprocess): Planes {
  const plane = rgb.height * rgb.width;
  const data = new Float32Array(rgb.data.length);
  for (let c = 0; c < 3; c++) {
    const src = rgbIndex(pre, c) * plane;
    for (let i = 0; i < plane; i++) data[c * plane + i] = (rgb.data[src + i] - pre.mean[c]) / pre.std[c];
  }
  return { ...rgb, data };
}

/** Adjoint of normalise: network-plane gradient → RGB-plane gradient. */
export function normaliseAdjoint(grad: Planes, pre: Preprocess): Planes {
  const plane = grad.height * grad.width;
  const data = new Float32Array(grad.data.length);
  for (let c = 0; c < 3; c++) {
    const dst = rgbIndex(pre, c) * plane;
    for (let i = 0; i < plane; i++) data[dst + i] = grad.data[c * plane + i] / pre.std[c];
  }
  return { ...grad, data };
}

