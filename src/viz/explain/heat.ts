/** Reductions of an input-shaped attribution (one image, model layout) to an h×w heat map. */
import { tensorIndex, type Layout } from '../../image/layout.js';

export type ChannelReduce = 'maxAbs' | 'sumAbs';

export function reduceChannels(values: Float32Array, layout: Layout, h: number, w: number, how: ChannelReduce): Float32Array {
  const plane = h * w;
  const out = new Float32Array(plane);
  for (let i = 0; i < plane; i++) {
    let acc = 0;
    for (let c = 0; c < 3; c++) {
      const v = Math.abs(values[tensorIndex(layout, c, i, plane)]);
      acc = how === 'maxAbs' ? Math.max(acc, v) : acc + v;
    }
    out[i] = acc;
  }
  return out;
}
