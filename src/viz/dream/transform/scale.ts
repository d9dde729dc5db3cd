/** Random zoom about the centre by a factor drawn from `factors` (Lucid: 0.9 … 1.1). */
import { affineWarp } from './warp.js';
import type { Transform } from './transform.js';

export const DEFAULT_SCALES = Array.from({ length: 11 }, (_, i) => 1 + (i - 5) / 50);

export function randomScale(factors: number[] = DEFAULT_SCALES): Transform {
  return {
    margin: 0,
    draw(rng) {
      const s = factors[rng.int(factors.length)];
      return affineWarp([1 / s, 0, 0, 1 / s]);
    },
  };
}
