/**
 * Lucid's decorrelated Fourier parameterisation: per decorrelated colour channel a half spectrum, scaled by
 * 1/frequency (so all frequencies learn at a similar rate), inverse-FFT'd, /4, mixed into RGB by the colour
 * decorrelation matrix and squashed by a sigmoid into [0, 1].
 */
import type { Preprocess } from '../../../image/preprocess.js';
import type { Rng } from '../../../util/rng.js';
import { GraftError } from '../../../util/errors.js';
import { DECORRELATION, invert3, mixChannels, transpose3 } from '../color.js';
import { halfWidth, irfft2, irfft2Adjoint, rfft2 } from '../fft.js';
import { normalisePlanes, normalisePlanesAdjoint } from '../../../image/layout.js';
import type { Planes } from '../../../image/planes.js';
import type { ImageParam } from './param.js';

/** Lucid's fixed divisor of the spatial image. */
const SPATIAL_DIVISOR = 4;
const INIT_SD = 0.01;

/** Per half-spectrum entry: 1 / max(|f|, 1/max(h, w))^decay · √(h·w). */
export function spectrumScale(h: number, w: number, decayPower = 1): Float32Array {
  const wf = halfWidth(w);
  const out = new Float32Array(h * wf);
  const floor = 1 / Math.max(h, w);
  for (let ky = 0; ky < h; ky++) {
    const fy = (ky < Math.ceil(h / 2) ? ky : ky - h) / h;
    for (let kx = 0; kx < wf; kx++) {
      const f = Math.hypot(fy, kx / w);
      out[ky * wf + kx] = Math.sqrt(h * w) / Math.max(f, floor) ** decayPower;
    }
  }
  return out;
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

export class FourierParam implements ImageParam {
  private readonly scale: Float32Array;
  private readonly spectrumSize: number;
  private lastRgb: Float32Array | undefined;

  /** params: [channel][re | im][h × (⌊w/2⌋+1)]. */
  constructor(readonly params: Float32Array, readonly height: number, readonly width: number, private readonly pre: Preprocess) {
    this.scale = spectrumScale(height, width);
    this.spectrumSize = height * halfWidth(width);
    if (params.length !== 6 * this.spectrumSize) throw new GraftError('SHAPE', `FourierParam: ${params.length} parameters for a ${height}×${width} image (need ${6 * this.spectrumSize})`);
  }

  /** Lucid's initialisation: spectrum entries ~ N(0, 0.01²). */
  static noise(pre: Preprocess, height: number, width: number, rng: Rng): FourierParam {
    const n = 6 * height * halfWidth(width);
    return new FourierParam(Float32Array.from({ length: n }, () => INIT_SD * rng.normal()), height, width, pre);
  }

  /** The parameters whose render is this RGB image (CHW in [0, 1]; clamped to [0.001, 0.999] to invert the sigmoid). */
  static fromRgb(rgb: Planes, pre: Preprocess): FourierParam {
    const { height: h, width: w } = rgb;
    const plane = h * w;
    const logit = rgb.data.map((v) => {
      const p = Math.min(0.999, Math.max(0.001, v));
      return Math.log(p / (1 - p));
    });
    const spatial = mixChannels(invert3(DECORRELATION), logit, plane);
    const param = new FourierParam(new Float32Array(6 * h * halfWidth(w)), h, w, pre);
    for (let c = 0; c < 3; c++) {
      const spec = rfft2(spatial.subarray(c * plane, (c + 1) * plane).map((v) => v * SPATIAL_DIVISOR), h, w);
      const [re, im] = param.spectrum(c);
      for (let i = 0; i < re.length; i++) {
        re[i] = spec.re[i] / param.scale[i];
        im[i] = spec.im[i] / param.scale[i];
      }
    }
    return param;
  }

  /** Views of channel c's real and imaginary spectrum parameters. */
  private spectrum(c: number): [Float32Array, Float32Array] {
    const n = this.spectrumSize;
    return [this.params.subarray(2 * c * n, (2 * c + 1) * n), this.params.subarray((2 * c + 1) * n, (2 * c + 2) * n)];
  }

  /** RGB planes in [0, 1]. */
  renderRgb(): Planes {
    const { height: h, width: w } = this;
    const plane = h * w;
    const spatial = new Float32Array(3 * plane);
    for (let c = 0; c < 3; c++) {
      const [re, im] = this.spectrum(c);
      const img = irfft2({ re: re.map((v, i) => v * this.scale[i]), im: im.map((v, i) => v * this.scale[i]) }, h, w);
      for (let i = 0; i < plane; i++) spatial[c * plane + i] = img[i] / SPATIAL_DIVISOR;
    }
    const rgb = mixChannels(DECORRELATION, spatial, plane).map(sigmoid);
    this.lastRgb = rgb;
    return { data: rgb, channels: 3, height: h, width: w };
  }

  render(): Planes {
    return normalisePlanes(this.renderRgb(), this.pre);
  }

  backward(grad: Planes): Float32Array {
    const rgb = this.lastRgb;
    if (!rgb) throw new GraftError('RUNTIME', 'FourierParam.backward called before render');
    const { height: h, width: w } = this;
    const plane = h * w;
    const gRgb = normalisePlanesAdjoint(grad, this.pre).data;
    const gMixed = gRgb.map((g, i) => g * rgb[i] * (1 - rgb[i]));
    const gSpatial = mixChannels(transpose3(DECORRELATION), gMixed, plane);
    const out = new Float32Array(this.params.length);
    const n = this.spectrumSize;
    for (let c = 0; c < 3; c++) {
      const g = gSpatial.subarray(c * plane, (c + 1) * plane).map((v) => v / SPATIAL_DIVISOR);
      const spec = irfft2Adjoint(g, h, w);
      for (let i = 0; i < n; i++) {
        out[2 * c * n + i] = spec.re[i] * this.scale[i];
        out[(2 * c + 1) * n + i] = spec.im[i] * this.scale[i];
      }
    }
    return out;
  }
}

