/**
 * The one home of the image ↔ network-tensor layout and its adjoint: channel order (RGB/BGR), NCHW/NHWC, 8-bit
 * crops ↔ pixel values ↔ normalised tensor values, and the chain rule back from tensor gradients to pixels.
 * Everything that reads or writes one image of a network input goes through here.
 */
import { GraftError } from '../util/errors.js';
import type { RgbImage } from './decode.js';
import type { Planes } from './planes.js';
import type { Preprocess } from './preprocess.js';

export type Layout = 'NCHW' | 'NHWC';
export const PIXEL_MAX = 255;

/** Tensor dims of a batch of n images. */
export function batchDims(n: number, pre: Preprocess): number[] {
  const [h, w] = pre.size;
  return pre.layout === 'NCHW' ? [n, 3, h, w] : [n, h, w, 3];
}

/** Channel index in the RGB image that feeds network channel c (BGR models read channel 2 − c). */
export function rgbChannel(pre: Pick<Preprocess, 'channelOrder'>, c: number): number {
  return pre.channelOrder === 'bgr' ? 2 - c : c;
}

/** Index, in one image of the tensor, of channel c at pixel i (row-major y·width + x) of a `plane`-pixel image. */
export function tensorIndex(layout: Layout, c: number, i: number, plane: number, channels = 3): number {
  return layout === 'NCHW' ? c * plane + i : i * channels + c;
}

/** Network channel (0–2) of element i of one image in the tensor layout. */
export function channelAt(i: number, pre: Preprocess): number {
  const plane = pre.size[0] * pre.size[1];
  return pre.layout === 'NCHW' ? Math.floor(i / plane) : i % 3;
}

function checkCrop(crop: RgbImage, pre: Preprocess): void {
  const [h, w] = pre.size;
  if (crop.width !== w || crop.height !== h) {
    throw new GraftError('SHAPE', `image is ${crop.width}×${crop.height}, the model input is ${w}×${h}`);
  }
}

/** Normalises an 8-bit RGB image into a network tensor (one image, no batch axis): CHW for NCHW, HWC for NHWC. */
export function toTensor(crop: RgbImage, pre: Preprocess): Float32Array {
  const { width, height, data } = crop;
  const plane = width * height;
  const out = new Float32Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const src = rgbChannel(pre, c);
    const scale = 1 / (PIXEL_MAX * pre.std[c]);
    const shift = pre.mean[c] / pre.std[c];
    for (let i = 0; i < plane; i++) out[tensorIndex(pre.layout, c, i, plane)] = data[i * 3 + src] * scale - shift;
  }
  return out;
}

/** Inverse of toTensor at the preprocess input size: de-normalised, clamped to 0..255 and rounded. */
export function fromTensor(t: Float32Array, pre: Preprocess): RgbImage {
  const [height, width] = pre.size;
  const plane = width * height;
  if (t.length !== plane * 3) {
    throw new GraftError('SHAPE', `fromTensor: tensor has ${t.length} values, expected 3×${height}×${width} = ${plane * 3}`);
  }
  const data = new Uint8Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const dst = rgbChannel(pre, c);
    for (let i = 0; i < plane; i++) {
      const pixel = Math.round((t[tensorIndex(pre.layout, c, i, plane)] * pre.std[c] + pre.mean[c]) * PIXEL_MAX);
      data[i * 3 + dst] = Number.isNaN(pixel) ? 0 : Math.min(PIXEL_MAX, Math.max(0, pixel));
    }
  }
  return { data, width, height };
}

/** An 8-bit RGB crop at network size → pixel values (0–255, not normalised) in the network tensor layout. */
export function cropToPixels(crop: RgbImage, pre: Preprocess): Float64Array {
  checkCrop(crop, pre);
  const plane = crop.width * crop.height;
  const out = new Float64Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const src = rgbChannel(pre, c);
    for (let i = 0; i < plane; i++) out[tensorIndex(pre.layout, c, i, plane)] = crop.data[i * 3 + src];
  }
  return out;
}

/** Pixel values in tensor layout → an 8-bit RGB crop (rounded and clamped). */
export function pixelsToCrop(px: Float64Array, pre: Preprocess): RgbImage {
  const [height, width] = pre.size;
  const plane = width * height;
  const data = new Uint8Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const dst = rgbChannel(pre, c);
    for (let i = 0; i < plane; i++) {
      const v = Math.round(px[tensorIndex(pre.layout, c, i, plane)]);
      data[i * 3 + dst] = Math.min(PIXEL_MAX, Math.max(0, v));
    }
  }
  return { data, width, height };
}

/** Normalises pixel values into tensor values, (p/255 − mean)/std, with the same arithmetic as toTensor. */
export function pixelsToTensor(px: Float64Array, pre: Preprocess, out = new Float32Array(px.length), offset = 0): Float32Array {
  const scale = pre.std.map((s) => 1 / (PIXEL_MAX * s));
  const shift = pre.mean.map((m, c) => m / pre.std[c]);
  for (let i = 0; i < px.length; i++) {
    const c = channelAt(i, pre);
    out[offset + i] = px[i] * scale[c] - shift[c];
  }
  return out;
}

/** A change (or gradient-step) of tensor values expressed in pixel units: Δpixel = Δtensor·255·std[c]. */
export function tensorDeltaToPixels(d: ArrayLike<number>, pre: Preprocess): Float64Array {
  const out = new Float64Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = d[i] * PIXEL_MAX * pre.std[channelAt(i, pre)];
  return out;
}

/** Adjoint of pixelsToTensor: ∂L/∂p = ∂L/∂t / (255·std[c]). */
export function tensorGradToPixels(g: ArrayLike<number>, pre: Preprocess, out = new Float64Array(g.length)): Float64Array {
  for (let i = 0; i < g.length; i++) out[i] = g[i] / (PIXEL_MAX * pre.std[channelAt(i, pre)]);
  return out;
}

/** 8-bit HWC RGB image → CHW planes in [0, 1]. */
export function rgbPlanes(img: RgbImage): Planes {
  const plane = img.width * img.height;
  const data = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) data[c * plane + i] = img.data[i * 3 + c] / PIXEL_MAX;
  return { data, channels: 3, height: img.height, width: img.width };
}

/** RGB planes in [0, 1] → network planes (CHW, network channel order): (rgb − mean) / std. */
export function normalisePlanes(rgb: Planes, pre: Preprocess): Planes {
  const plane = rgb.height * rgb.width;
  const data = new Float32Array(rgb.data.length);
  for (let c = 0; c < 3; c++) {
    const src = rgbChannel(pre, c) * plane;
    for (let i = 0; i < plane; i++) data[c * plane + i] = (rgb.data[src + i] - pre.mean[c]) / pre.std[c];
  }
  return { ...rgb, data };
}

/** Adjoint of normalisePlanes: network-plane gradient → RGB-plane gradient. */
export function normalisePlanesAdjoint(grad: Planes, pre: Preprocess): Planes {
  const plane = grad.height * grad.width;
  const data = new Float32Array(grad.data.length);
  for (let c = 0; c < 3; c++) {
    const dst = rgbChannel(pre, c) * plane;
    for (let i = 0; i < plane; i++) data[dst + i] = grad.data[c * plane + i] / pre.std[c];
  }
  return { ...grad, data };
}

/** CHW planes → one network input (no batch axis) in the given layout. Its adjoint is fromLayout. */
export function toLayout(p: Planes, layout: Layout): Float32Array {
  if (layout === 'NCHW') return p.data;
  const { channels: c, height: h, width: w } = p;
  const out = new Float32Array(c * h * w);
  for (let ch = 0; ch < c; ch++) for (let i = 0; i < h * w; i++) out[tensorIndex(layout, ch, i, h * w, c)] = p.data[ch * h * w + i];
  return out;
}

/** One network input (no batch axis) in the given layout → CHW planes (a permutation, so also toLayout's adjoint). */
export function fromLayout(t: Float32Array, layout: Layout, channels: number, height: number, width: number): Planes {
  if (layout === 'NCHW') return { data: t, channels, height, width };
  const data = new Float32Array(channels * height * width);
  for (let ch = 0; ch < channels; ch++) for (let i = 0; i < height * width; i++) data[ch * height * width + i] = t[tensorIndex(layout, ch, i, height * width, channels)];
  return { data, channels, height, width };
}
