/**
 * Pixel parameterisation: the parameters are the network input itself (normalised units), as in the lesson's
 * "optimise the input tensor" — no range constraint while optimising; the saved image is clamped to 0..255.
 */
import type { Preprocess } from '../../../image/preprocess.js';
import type { Rng } from '../../../util/rng.js';
import { normalisePlanes } from '../../../image/layout.js';
import type { Planes } from '../../../image/planes.js';
import type { ImageParam } from './param.js';

export class PixelParam implements ImageParam {
  constructor(readonly params: Float32Array, readonly height: number, readonly width: number) {}

  /** Uniform noise over the whole pixel range [0, 1]. */
  static noise(pre: Preprocess, height: number, width: number, rng: Rng): PixelParam {
    const rgb = Float32Array.from({ length: 3 * height * width }, () => rng.next());
    return PixelParam.fromRgb({ data: rgb, channels: 3, height, width }, pre);
  }

  /** Starts from an RGB image (CHW planes in [0, 1]). */
  static fromRgb(rgb: Planes, pre: Preprocess): PixelParam {
    return new PixelParam(normalisePlanes(rgb, pre).data, rgb.height, rgb.width);
  }

  render(): Planes {
    return { data: this.params.slice(), channels: 3, height: this.height, width: this.width };
  }

  backward(grad: Planes): Float32Array {
    return grad.data;
  }
}
