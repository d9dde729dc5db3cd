/** Images as float channel planes (CHW), the form every dream parameterisation and transform works on. */
export interface Planes {
  data: Float32Array;
  channels: number;
  height: number;
  width: number;
}

/** Zero-filled planes of the given size. */
export function zeroPlanes(channels: number, height: number, width: number): Planes {
  return { data: new Float32Array(channels * height * width), channels, height, width };
}

/** The height×width window of p whose top-left corner is (top, left). */
export function crop(p: Planes, top: number, left: number, height: number, width: number): Planes {
  const out = zeroPlanes(p.channels, height, width);
  for (let c = 0; c < p.channels; c++) {
    for (let y = 0; y < height; y++) {
      const src = (c * p.height + y + top) * p.width + left;
      out.data.set(p.data.subarray(src, src + width), (c * height + y) * width);
    }
  }
  return out;
}

/** Adjoint of crop: g placed into zeros of the original size. */
export function uncrop(g: Planes, top: number, left: number, height: number, width: number): Planes {
  const out = zeroPlanes(g.channels, height, width);
  for (let c = 0; c < g.channels; c++) {
    for (let y = 0; y < g.height; y++) {
      const src = (c * g.height + y) * g.width;
      out.data.set(g.data.subarray(src, src + g.width), (c * height + y + top) * width + left);
    }
  }
  return out;
}
