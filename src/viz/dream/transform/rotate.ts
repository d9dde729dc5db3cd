/** Random rotation about the centre by an angle (degrees) drawn from `angles` (Lucid: −10 … 10, zero weighted up). */
import { affineWarp } from './warp.js';
import type { Transform } from './transform.js';

export const DEFAULT_ANGLES = [...Array.from({ length: 21 }, (_, i) => i - 10), 0, 0, 0, 0, 0];

export function randomRotate(angles: number[] = DEFAULT_ANGLES): Transform {
  return {
    margin: 0,
    draw(rng) {
      const t = (angles[rng.int(angles.length)] * Math.PI) / 180;
      const [cos, sin] = [Math.cos(t), Math.sin(t)];
      // Output pixel q samples the input at R(−t)·(q − c) + c: the content turns by t.
      return affineWarp([cos, sin, -sin, cos]);
    },
  };
}
