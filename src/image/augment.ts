import sharp, { type Sharp } from 'sharp';
import type { RgbImage } from './decode.js';
import type { Rng } from '../util/rng.js';

/** Random training-time transforms; every draw comes from a seeded Rng. */
export interface Augment {
  /** torchvision RandomResizedCrop: a crop covering `scale` of the area with aspect ratio in `ratio`, stretched to the input size. */
  randomResizedCrop?: { scale: [number, number]; ratio: [number, number] };
  /** Horizontal flip with probability 1/2. */
  flip?: boolean;
  /** Rotation by a uniform angle in ±rotate degrees, zoomed so that no empty corner shows. */
  rotate?: number;
  /** Pixel values multiplied by a factor in [1 - brightness, 1 + brightness]. */
  brightness?: number;
  /** Contrast around mid-grey scaled by a factor in [1 - contrast, 1 + contrast]. */
  contrast?: number;
  /** Saturation scaled by a factor in [1 - saturation, 1 + saturation]. */
  saturation?: number;
}

/** A random augmentation and the generator its draws come from. */
export interface SeededAugment {
  spec: Augment;
  rng: Rng;
}

/** fastai `aug_transforms` defaults (flip, ±10°, lighting 0.2) with torchvision's RandomResizedCrop ratios and fastai's min_scale 0.35. */
export const DEFAULT_AUGMENT: Augment = {
  randomResizedCrop: { scale: [0.35, 1], ratio: [3 / 4, 4 / 3] },
  flip: true,
  rotate: 10,
  brightness: 0.2,
  contrast: 0.2,
};

export interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** The concrete values drawn for one image. */
export interface AugmentDraw {
  crop?: Region;
  flip: boolean;
  /** Degrees, clockwise. */
  angle: number;
  brightness: number;
  contrast: number;
  saturation: number;
}

/** torchvision's RandomResizedCrop.get_params: ten tries at a random area/ratio, then a centre crop with the ratio clamped. */
export function randomResizedCropRegion(width: number, height: number, scale: [number, number], ratio: [number, number], rng: Rng): Region {
  const area = width * height;
  const logRatio: [number, number] = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
    const w = Math.round(Math.sqrt(targetArea * aspect));
    const h = Math.round(Math.sqrt(targetArea / aspect));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      return { left: rng.int(width - w + 1), top: rng.int(height - h + 1), width: w, height: h };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(...ratio)) h = Math.round(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) w = Math.round(h * Math.max(...ratio));
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}

function factor(rng: Rng, amount: number | undefined): number {
  return amount ? rng.uniform(1 - amount, 1 + amount) : 1;
}

/** Draws the random values of `spec` for an image of the given (oriented) size, in a fixed order. */
export function drawAugment(spec: Augment, rng: Rng, width: number, height: number): AugmentDraw {
  const rrc = spec.randomResizedCrop;
  const crop = rrc ? randomResizedCropRegion(width, height, rrc.scale, rrc.ratio, rng) : undefined;
  const flip = spec.flip ? rng.next() < 0.5 : false;
  const angle = spec.rotate ? rng.uniform(-spec.rotate, spec.rotate) : 0;
  return {
    crop,
    flip,
    angle,
    brightness: factor(rng, spec.brightness),
    contrast: factor(rng, spec.contrast),
    saturation: factor(rng, spec.saturation),
  };
}

/** Zoom that lets a width×height image rotated by `angle` degrees still cover the width×height window around its centre. */
export function rotationZoom(angle: number, width: number, height: number): number {
  const t = (Math.abs(angle) * Math.PI) / 180;
  return Math.cos(t) + Math.sin(t) * Math.max(width / height, height / width);
}

/** Adds the flip and colour changes of a draw to a sharp pipeline (rotation is a separate pass: see rotateCentred). */
export function applyFlipAndColour(image: Sharp, draw: AugmentDraw): Sharp {
  let out = draw.flip ? image.flop() : image;
  const gain = draw.brightness * draw.contrast;
  if (gain !== 1 || draw.contrast !== 1) out = out.linear(gain, 128 * (1 - draw.contrast));
  if (draw.saturation !== 1) out = out.modulate({ saturation: draw.saturation });
  return out;
}

/**
 * Rotates by `angle` degrees and keeps the centre width×height. A second pass, because inside one sharp
 * pipeline a rotation runs before any crop made after the resize.
 */
export async function rotateCentred(img: RgbImage, angle: number, width: number, height: number): Promise<RgbImage> {
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .rotate(angle, { background: { r: 0, g: 0, b: 0, alpha: 1 } })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const left = Math.floor((info.width - width) / 2);
  const top = Math.floor((info.height - height) / 2);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * info.width + left) * 3;
    out.set(data.subarray(from, from + width * 3), y * width * 3);
  }
  return { ...img, data: out, width, height };
}
