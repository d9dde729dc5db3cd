/** Random translation by up to ±px pixels, done exactly as a crop of a random window from an input 2·px larger. */
import { crop, uncrop } from '../../../image/planes.js';
import type { Transform } from './transform.js';

export function jitter(px: number): Transform {
  return {
    margin: px,
    draw(rng) {
      const top = rng.int(2 * px + 1);
      const left = rng.int(2 * px + 1);
      let inputSize = [0, 0];
      return {
        forward(x) {
          inputSize = [x.height, x.width];
          return crop(x, top, left, x.height - 2 * px, x.width - 2 * px);
        },
        backward: (g) => uncrop(g, top, left, inputSize[0], inputSize[1]),
      };
    },
  };
}
