import sharp, { type Sharp } from 'sharp';
import { GraftError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fsutil.js';
import { applyColormap, type ColormapName, type ColormapRange } from './colormap.js';
import type { RgbImage } from './decode.js';

function checkImage(img: RgbImage, what: string): void {
  if (img.data.length !== img.width * img.height * 3) {
    throw new GraftError('SHAPE', `${what}: ${img.data.length} bytes for a ${img.width}×${img.height} RGB image`);
  }
}

function fromRgb(img: RgbImage): Sharp {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
}

async function toRgbImage(pipeline: Sharp): Promise<RgbImage> {
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

/** Encodes an RGB image as PNG. */
export async function encodePng(img: RgbImage): Promise<Buffer> {
  checkImage(img, 'encodePng');
  return fromRgb(img).png().toBuffer();
}

/** Writes an RGB image to a PNG file (atomically). */
export async function savePng(img: RgbImage, file: string): Promise<void> {
  await writeFileAtomic(file, await encodePng(img));
}

/** Resizes to w×h with nearest-neighbour sampling (crisp blocks, e.g. for feature maps). */
export async function resizeNearest(img: RgbImage, w: number, h: number): Promise<RgbImage> {
  checkImage(img, 'resizeNearest');
  return toRgbImage(fromRgb(img).resize(w, h, { fit: 'fill', kernel: 'nearest' }));
}

/** Resizes to w×h with a smooth kernel (lanczos3, antialiased when shrinking). */
export async function resizeSmooth(img: RgbImage, w: number, h: number): Promise<RgbImage> {
  checkImage(img, 'resizeSmooth');
  return toRgbImage(fromRgb(img).resize(w, h, { fit: 'fill', kernel: 'lanczos3' }));
}

/** Bilinear resampling of a float grid (pixel centres aligned, as cv2.resize and align_corners=false). */
export function upsampleBilinear(values: Float32Array, srcW: number, srcH: number, dstW: number, dstH: number): Float32Array {
  if (values.length !== srcW * srcH) {
    throw new GraftError('SHAPE', `upsampleBilinear: ${values.length} values for a ${srcW}×${srcH} grid`);
  }
  const out = new Float32Array(dstW * dstH);
  const coord = (dst: number, scale: number, size: number) => {
    const s = Math.min(size - 1, Math.max(0, (dst + 0.5) * scale - 0.5));
    const i0 = Math.floor(s);
    return { i0, i1: Math.min(size - 1, i0 + 1), f: s - i0 };
  };
  for (let y = 0; y < dstH; y++) {
    const cy = coord(y, srcH / dstH, srcH);
    for (let x = 0; x < dstW; x++) {
      const cx = coord(x, srcW / dstW, srcW);
      const top = values[cy.i0 * srcW + cx.i0] * (1 - cx.f) + values[cy.i0 * srcW + cx.i1] * cx.f;
      const bottom = values[cy.i1 * srcW + cx.i0] * (1 - cx.f) + values[cy.i1 * srcW + cx.i1] * cx.f;
      out[y * dstW + x] = top * (1 - cy.f) + bottom * cy.f;
    }
  }
  return out;
}

/**
 * Blends a colour-mapped heatmap over an image: heat ([height, width] = hw) is upsampled bilinearly to the
 * image size, coloured, then mixed as (1 - alpha)·base + alpha·colour.
 */
export function overlayHeatmap(
  base: RgbImage,
  heat: Float32Array,
  hw: [number, number],
  alpha: number,
  map: ColormapName,
  range?: ColormapRange,
): RgbImage {
  checkImage(base, 'overlayHeatmap');
  const up = upsampleBilinear(heat, hw[1], hw[0], base.width, base.height);
  const colours = applyColormap(up, base.width, base.height, map, range);
  const data = new Uint8Array(base.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.round((1 - alpha) * base.data[i] + alpha * colours.data[i]);
  return { data, width: base.width, height: base.height };
}
