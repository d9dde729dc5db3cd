/**
 * BENCHMARK BASELINE ONLY: the hand-written mixed-radix FFT that src/viz/dream/fft.ts used before fft.js, kept so
 * bench/libraries.ts can compare both in the same run. Not imported by src/.
 *
 * Discrete Fourier transforms of any length (mixed radix, direct DFT for prime factors) and the real 2-D
 * inverse transform used by the Fourier image parameterisation, with its exact adjoint.
 */

/** In-place unnormalised complex DFT of length n: X[k] = Σ x[j]·e^{∓2πijk/n} (− forward, + inverse). */
export function fft(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length;
  if (n <= 1) return;
  const plan = planFor(n);
  plan.inRe.set(re);
  plan.inIm.set(im);
  transform(plan, inverse ? 1 : -1, 0, 1, n, re, im, 0);
}

interface Plan {
  n: number;
  /** cos / sin of 2πk/n. */
  cos: Float64Array;
  sin: Float64Array;
  inRe: Float64Array;
  inIm: Float64Array;
  tmpRe: Float64Array;
  tmpIm: Float64Array;
}

const plans = new Map<number, Plan>();

function planFor(n: number): Plan {
  let plan = plans.get(n);
  if (!plan) {
    const angle = (k: number) => (2 * Math.PI * k) / n;
    plan = {
      n,
      cos: Float64Array.from({ length: n }, (_, k) => Math.cos(angle(k))),
      sin: Float64Array.from({ length: n }, (_, k) => Math.sin(angle(k))),
      inRe: new Float64Array(n),
      inIm: new Float64Array(n),
      tmpRe: new Float64Array(n),
      tmpIm: new Float64Array(n),
    };
    plans.set(n, plan);
  }
  return plan;
}

function smallestFactor(n: number): number {
  if (n % 2 === 0) return 2;
  for (let f = 3; f * f <= n; f += 2) if (n % f === 0) return f;
  return n;
}

/**
 * Decimation in time: the DFT of the length-len sequence plan.in[offset + j·stride] is written to
 * out[at … at+len). Its p interleaved sub-sequences are transformed into consecutive blocks of out, then each
 * group of p values {X_r[q]} is combined in place into outputs q + s·m (a direct DFT when len is prime).
 */
function transform(plan: Plan, sign: number, offset: number, stride: number, len: number, outRe: Float64Array, outIm: Float64Array, at: number): void {
  if (len === 1) {
    outRe[at] = plan.inRe[offset];
    outIm[at] = plan.inIm[offset];
    return;
  }
  const p = smallestFactor(len);
  const m = len / p;
  for (let r = 0; r < p; r++) transform(plan, sign, offset + r * stride, stride * p, m, outRe, outIm, at + r * m);
  const { cos, sin, tmpRe, tmpIm } = plan;
  const step = plan.n / len;
  for (let q = 0; q < m; q++) {
    for (let r = 0; r < p; r++) {
      tmpRe[r] = outRe[at + r * m + q];
      tmpIm[r] = outIm[at + r * m + q];
    }
    for (let s = 0; s < p; s++) {
      const k = q + s * m;
      let sr = 0;
      let si = 0;
      for (let r = 0; r < p; r++) {
        const t = ((r * k) % len) * step;
        const c = cos[t];
        const sn = sign * sin[t];
        sr += tmpRe[r] * c - tmpIm[r] * sn;
        si += tmpRe[r] * sn + tmpIm[r] * c;
      }
      outRe[at + k] = sr;
      outIm[at + k] = si;
    }
  }
}

/** Columns of the half spectrum of a real signal of width w. */
export function halfWidth(w: number): number {
  return Math.floor(w / 2) + 1;
}

/**
 * A half spectrum of an h×w real image: re/im planes of h × (⌊w/2⌋+1), row-major.
 * As numpy.fft.irfft2 does, the imaginary parts of the columns with no mirror (0 and w/2 for even w) are ignored.
 */
export interface HalfSpectrum {
  re: Float32Array;
  im: Float32Array;
}

/** How many times column k of the half spectrum appears in the full spectrum (1 or 2). */
function multiplicity(k: number, w: number): number {
  return k === 0 || (w % 2 === 0 && k === w / 2) ? 1 : 2;
}

/** Real image (h×w) = inverse 2-D DFT (normalised by 1/(h·w)) of the Hermitian spectrum given by its half. */
export function irfft2(spec: HalfSpectrum, h: number, w: number): Float32Array {
  const wf = halfWidth(w);
  // Inverse DFT down each column of the half spectrum.
  const colRe = new Float64Array(h * wf);
  const colIm = new Float64Array(h * wf);
  const re = new Float64Array(h);
  const im = new Float64Array(h);
  for (let k = 0; k < wf; k++) {
    for (let y = 0; y < h; y++) {
      re[y] = spec.re[y * wf + k];
      im[y] = spec.im[y * wf + k];
    }
    fft(re, im, true);
    for (let y = 0; y < h; y++) {
      colRe[y * wf + k] = re[y];
      colIm[y * wf + k] = im[y];
    }
  }
  // Each row: rebuild the full Hermitian spectrum and take the real inverse DFT.
  const out = new Float32Array(h * w);
  const rowRe = new Float64Array(w);
  const rowIm = new Float64Array(w);
  const norm = 1 / (h * w);
  for (let y = 0; y < h; y++) {
    for (let k = 0; k < wf; k++) {
      const r = colRe[y * wf + k];
      const i = multiplicity(k, w) === 1 ? 0 : colIm[y * wf + k];
      rowRe[k] = r;
      rowIm[k] = i;
      if (k > 0 && k < w - k) {
        rowRe[w - k] = r;
        rowIm[w - k] = -i;
      }
    }
    fft(rowRe, rowIm, true);
    for (let x = 0; x < w; x++) out[y * w + x] = rowRe[x] * norm;
  }
  return out;
}

/** Adjoint of irfft2 (for the real inner product on re/im parts): the gradient w.r.t. the half spectrum. */
export function irfft2Adjoint(grad: Float32Array, h: number, w: number): HalfSpectrum {
  const wf = halfWidth(w);
  const norm = 1 / (h * w);
  const spec = { re: new Float32Array(h * wf), im: new Float32Array(h * wf) };
  const half = rowTransforms(grad, h, w);
  const re = new Float64Array(h);
  const im = new Float64Array(h);
  for (let k = 0; k < wf; k++) {
    const mult = multiplicity(k, w);
    for (let y = 0; y < h; y++) {
      re[y] = half.re[y * wf + k] * mult;
      im[y] = mult === 1 ? 0 : half.im[y * wf + k] * mult;
    }
    // The adjoint of the column inverse DFT (conjugate kernel) is the forward DFT.
    fft(re, im, false);
    for (let y = 0; y < h; y++) {
      spec.re[y * wf + k] = re[y] * norm;
      spec.im[y * wf + k] = im[y] * norm;
    }
  }
  return spec;
}

/** Forward DFT of each row of a real h×w image, keeping the first ⌊w/2⌋+1 columns. */
function rowTransforms(img: Float32Array, h: number, w: number): { re: Float64Array; im: Float64Array } {
  const wf = halfWidth(w);
  const outRe = new Float64Array(h * wf);
  const outIm = new Float64Array(h * wf);
  const re = new Float64Array(w);
  const im = new Float64Array(w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) re[x] = img[y * w + x];
    im.fill(0);
    fft(re, im, false);
    for (let k = 0; k < wf; k++) {
      outRe[y * wf + k] = re[k];
      outIm[y * wf + k] = im[k];
    }
  }
  return { re: outRe, im: outIm };
}

/** Unnormalised forward 2-D DFT of a real image, half spectrum: irfft2(rfft2(x)) = x. */
export function rfft2(img: Float32Array, h: number, w: number): HalfSpectrum {
  const wf = halfWidth(w);
  const rows = rowTransforms(img, h, w);
  const spec = { re: new Float32Array(h * wf), im: new Float32Array(h * wf) };
  const re = new Float64Array(h);
  const im = new Float64Array(h);
  for (let k = 0; k < wf; k++) {
    for (let y = 0; y < h; y++) {
      re[y] = rows.re[y * wf + k];
      im[y] = rows.im[y * wf + k];
    }
    fft(re, im, false);
    for (let y = 0; y < h; y++) {
      spec.re[y * wf + k] = re[y];
      spec.im[y * wf + k] = im[y];
    }
  }
  return spec;
}
