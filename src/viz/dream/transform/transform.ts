import type { Rng } from '../../../util/rng.js';
import type { Planes } from '../../../image/planes.js';

/** One step's draw of a random transform: a linear map on planes and its exact adjoint. */
export interface AppliedTransform {
  forward(x: Planes): Planes;
  backward(grad: Planes): Planes;
}

/** A random, differentiable image transform (Lucid's robustness transforms). */
export interface Transform {
  /** How many pixels the input must exceed the output by on each side (jitter crops; warps keep the size). */
  readonly margin: number;
  draw(rng: Rng): AppliedTransform;
}

/** A chain of transforms drawn together: forward in order, backward in reverse. */
export function drawAll(transforms: Transform[], rng: Rng): AppliedTransform {
  const applied = transforms.map((t) => t.draw(rng));
  return {
    forward: (x) => applied.reduce((acc, t) => t.forward(acc), x),
    backward: (g) => applied.reduceRight((acc, t) => t.backward(acc), g),
  };
}

/** Total margin of a chain: the canvas is the network input size plus twice this. */
export function totalMargin(transforms: Transform[]): number {
  return transforms.reduce((m, t) => m + t.margin, 0);
}
