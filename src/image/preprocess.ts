import type { Sharp } from 'sharp';
import { GraftError } from '../util/errors.js';
import { applyFlipAndColour, drawAugment, rotateCentred, rotationZoom, type Region, type SeededAugment } from './augment.js';
import { openImage, toRgb, type DecodeOptions, type RgbImage } from './decode.js';
import { toTensor } from './layout.js';

/** How an image becomes a network input. */
export interface Preprocess {
  /** [height, width] of the network input. */
  size: [number, number];
  /** crop: scale to cover, centre crop; stretch: scale each axis to fit; pad: scale to fit inside, pad with black. */
  resize: 'crop' | 'stretch' | 'pad';
  /**
   * For 'crop': the shorter side is first scaled to this, then the centre size[0]×size[1] is cropped (torchvision 256→224).
   * Default: scale so the crop just covers the image (Keras/TF.js: shorter side to the input size, centre crop).
   */
  resizeTo?: number;
  /** Per network-input channel (so in BGR order when channelOrder is 'bgr'): value = (pixel/255 - mean[c]) / std[c]. */
  mean: [number, number, number];
  std: [number, number, number];
  channelOrder: 'rgb' | 'bgr';
  layout: 'NCHW' | 'NHWC';
}

/** Keras/TF.js MobileNet style: x/127.5 - 1, NHWC, 224. */
export const PREPROCESS_TF: Preprocess = {
  size: [224, 224],
  resize: 'crop',
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
  channelOrder: 'rgb',
  layout: 'NHWC',
};

/** torchvision ImageNet: shorter side 256, centre crop 224, ImageNet mean/std, NCHW. */
export const PREPROCESS_TORCH: Preprocess = {
  size: [224, 224],
  resize: 'crop',
  resizeTo: 256,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  channelOrder: 'rgb',
  layout: 'NCHW',
};

/** x/255, NHWC, 224. */
export const PREPROCESS_UNIT: Preprocess = {
  size: [224, 224],
  resize: 'crop',
  mean: [0, 0, 0],
  std: [1, 1, 1],
  channelOrder: 'rgb',
  layout: 'NHWC',
};

const BLACK = { r: 0, g: 0, b: 0, alpha: 1 };

/** The part of a width×height image that the resize mode keeps (all of it except for 'crop'); may be fractional. */
export function inputRegion(width: number, height: number, pre: Preprocess): Region {
  if (pre.resize !== 'crop') return { left: 0, top: 0, width, height };
  const [h, w] = pre.size;
  if (pre.resizeTo !== undefined && pre.resizeTo < Math.max(h, w)) {
    throw new GraftError('BAD_ARGUMENT', `preprocess resizeTo ${pre.resizeTo} is smaller than the input size ${h}×${w}`);
  }
  const scale = pre.resizeTo !== undefined ? pre.resizeTo / Math.min(width, height) : Math.max(w / width, h / height);
  const cw = Math.min(width, w / scale);
  const ch = Math.min(height, h / scale);
  return { left: (width - cw) / 2, top: (height - ch) / 2, width: cw, height: ch };
}

/**
 * Scales `region` of a width×height image to outW×outH. The whole image is resized and the region cut out
 * afterwards (as torchvision's Resize + CenterCrop), because cutting first would disable JPEG shrink-on-load.
 */
function resizeRegion(image: Sharp, width: number, height: number, region: Region, outW: number, outH: number): Sharp {
  const kx = outW / region.width;
  const ky = outH / region.height;
  const scaledW = Math.max(outW, Math.round(width * kx));
  const scaledH = Math.max(outH, Math.round(height * ky));
  // 'linear' matches the bilinear (antialiased) resize of PIL/torchvision and Keras more closely than sharp's lanczos3.
  const resized = image.resize(scaledW, scaledH, { fit: 'fill', kernel: 'linear' });
  if (scaledW === outW && scaledH === outH) return resized;
  const left = Math.min(Math.round(region.left * kx), scaledW - outW);
  const top = Math.min(Math.round(region.top * ky), scaledH - outH);
  return resized.extract({ left, top, width: outW, height: outH });
}

/** Decodes an image and returns its 8-bit RGB crop at the network input size, resized inside sharp, optionally augmented. */
export async function loadImageRgbCropped(
  source: string | Uint8Array,
  pre: Preprocess,
  augment?: SeededAugment,
  decode?: DecodeOptions,
): Promise<RgbImage> {
  const opened = await openImage(source, decode);
  const [h, w] = pre.size;
  const draw = augment ? drawAugment(augment.spec, augment.rng, opened.width, opened.height) : undefined;
  // A rotated crop is made larger first, so that its centre w×h has no empty corners.
  const zoom = draw && draw.angle !== 0 ? rotationZoom(draw.angle, w, h) : 1;
  const outW = Math.ceil(w * zoom);
  const outH = Math.ceil(h * zoom);
  let image =
    pre.resize === 'pad' && !draw?.crop
      ? opened.image.resize(outW, outH, { fit: 'contain', kernel: 'linear', background: BLACK })
      : resizeRegion(opened.image, opened.width, opened.height, draw?.crop ?? inputRegion(opened.width, opened.height, pre), outW, outH);
  if (draw) image = applyFlipAndColour(image, draw);
  const rgb = await toRgb(opened, image);
  return draw && zoom !== 1 ? rotateCentred(rgb, draw.angle, w, h) : rgb;
}

/** Decodes, crops and normalises one image into a network tensor (no batch axis). */
export async function imageToTensor(
  source: string | Uint8Array,
  pre: Preprocess,
  augment?: SeededAugment,
  decode?: DecodeOptions,
): Promise<Float32Array> {
  return toTensor(await loadImageRgbCropped(source, pre, augment, decode), pre);
}
