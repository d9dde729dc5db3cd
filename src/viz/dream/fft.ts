/**
 * Discrete Fourier transforms of any length and the real 2-D inverse transform used by the Fourier image
 * parameterisation, with its exact adjoint. The complex transform is fft.js (radix-4, powers of two); other
 * lengths go through Bluestein's chirp-z identity on a power-of-two fft.js transform.
 */
import FFT from 'fft.js';

/** An in-place complex DFT of any length: the 2-D real transforms below are built on one (fft by default). */
export type Dft = (re: Float64Array, im: Float64Array, inverse?: boolean) => void;

/** In-place unnormalised complex DFT of length n: X[k] = Σ x[j]·e^{∓2πijk/n} (− forward, + inverse). */
export function fft(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length;
  if (n <= 1) return;
  // The inverse DFT is the conjugate of the forward DFT of the conjugate.
  if (inverse) for (let i = 0; i < n; i++) im[i] = -im[i];
  if ((n & (n - 1)) === 0) powerOfTwo(re, im);
  else bluestein(re, im);
  if (inverse) for (let i = 0; i < n; i++) im[i] = -im[i];
}

interface Radix2 { fft: FFT; input: number[]; output: number[] }
const radix2 = new Map<number, Radix2>();

function radix2For(n: number): Radix2 {
  let r = radix2.get(n);
  if (!r) {
    const f = new FFT(n);
    radix2.set(n, (r = { fft: f, input: f.createComplexArray() as number[], output: f.createComplexArray() as number[] }));
  }
  return r;
}

/** Forward DFT of a power-of-two length, in place. */
function powerOfTwo(re: Float64Array, im: Float64Array): void {
  const { fft: f, input, output } = radix2For(re.length);
  for (let i = 0; i < re.length; i++) {
    input[2 * i] = re[i];
    input[2 * i + 1] = im[i];
  }
  f.transform(output, input);
  for (let i = 0; i < re.length; i++) {
    re[i] = output[2 * i];
    im[i] = output[2 * i + 1];
  }
}

interface Chirp {
  /** Power-of-two convolution length ≥ 2n − 1. */
  m: number;
  /** w[k] = e^{−iπk²/n}. */
  wRe: Float64Array;
  wIm: Float64Array;
  /** DFT (length m) of the wrapped conj(w). */
  bRe: Float64Array;
  bIm: Float64Array;
}
const chirps = new Map<number, Chirp>();

function chirpFor(n: number): Chirp {
  let c = chirps.get(n);
  if (c) return c;
  let m = 1;
  while (m < 2 * n - 1) m *= 2;
  const wRe = new Float64Array(n);
  const wIm = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    // k² mod 2n keeps the angle small, so it stays exact for large k.
    const angle = (Math.PI * ((k * k) % (2 * n))) / n;
    wRe[k] = Math.cos(angle);
    wIm[k] = -Math.sin(angle);
  }
  const bRe = new Float64Array(m);
  const bIm = new Float64Array(m);
  for (let k = 0; k < n; k++) {
    bRe[k] = wRe[k];
    bIm[k] = -wIm[k];
    if (k > 0) {
      bRe[m - k] = wRe[k];
      bIm[m - k] = -wIm[k];
    }
  }
  powerOfTwo(bRe, bIm);
  chirps.set(n, (c = { m, wRe, wIm, bRe, bIm }));
  return c;
}

/** Forward DFT of any length n as a circular convolution of length m (Bluestein): X[k] = w[k]·Σ_j x[j]w[j]·conj(w[k−j]). */
function bluestein(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  const { m, wRe, wIm, bRe, bIm } = chirpFor(n);
  const aRe = new Float64Array(m);
  const aIm = new Float64Array(m);
  for (let j = 0; j < n; j++) {
    aRe[j] = re[j] * wRe[j] - im[j] * wIm[j];
    aIm[j] = re[j] * wIm[j] + im[j] * wRe[j];
  }
  powerOfTwo(aRe, aIm);
  // Pointwise product, then the inverse transform of length m (conjugate trick, divided by m).
  for (let k = 0; k < m; k++) {
    const r = aRe[k] * bRe[k] - aIm[k] * bIm[k];
    const i = aRe[k] * bIm[k] + aIm[k] * bRe[k];
    aRe[k] = r;
    aIm[k] = -i;
  }
  powerOfTwo(aRe, aIm);
  for (let k = 0; k < n; k++) {
    const cr = aRe[k] / m;
    const ci = -aIm[k] / m;
    re[k] = cr * wRe[k] - ci * wIm[k];
    im[k] = cr * wIm[k] + ci * wRe[k];
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
export function irfft2(spec: HalfSpectrum, h: number, w: number, dft: Dft = fft): Float32Array {
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
    dft(re, im, true);
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
    dft(rowRe, rowIm, true);
    for (let x = 0; x < w; x++) out[y * w + x] = rowRe[x] * norm;
  }
  return out;
}

/** Adjoint of irfft2 (for the real inner product on re/im parts): the gradient w.r.t. the half spectrum. */
export function irfft2Adjoint(grad: Float32Array, h: number, w: number, dft: Dft = fft): HalfSpectrum {
  const wf = halfWidth(w);
  const norm = 1 / (h * w);
  const spec = { re: new Float32Array(h * wf), im: new Float32Array(h * wf) };
  const half = rowTransforms(grad, h, w, dft);
  const re = new Float64Array(h);
  const im = new Float64Array(h);
  for (let k = 0; k < wf; k++) {
    const mult = multiplicity(k, w);
    for (let y = 0; y < h; y++) {
      re[y] = half.re[y * wf + k] * mult;
      im[y] = mult === 1 ? 0 : half.im[y * wf + k] * mult;
    }
    // The adjoint of the column inverse DFT (conjugate kernel) is the forward DFT.
    dft(re, im, false);
    for (let y = 0; y < h; y++) {
      spec.re[y * wf + k] = re[y] * norm;
      spec.im[y * wf + k] = im[y] * norm;
    }
  }
  return spec;
}

/** Forward DFT of each row of a real h×w image, keeping the first ⌊w/2⌋+1 columns. */
function rowTransforms(img: Float32Array, h: number, w: number, dft: Dft): { re: Float64Array; im: Float64Array } {
  const wf = halfWidth(w);
  const outRe = new Float64Array(h * wf);
  const outIm = new Float64Array(h * wf);
  const re = new Float64Array(w);
  const im = new Float64Array(w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) re[x] = img[y * w + x];
    im.fill(0);
    dft(re, im, false);
    for (let k = 0; k < wf; k++) {
      outRe[y * wf + k] = re[k];
      outIm[y * wf + k] = im[k];
    }
  }
  return { re: outRe, im: outIm };
}

/** Unnormalised forward 2-D DFT of a real image, half spectrum: irfft2(rfft2(x)) = x. */
export function rfft2(img: Float32Array, h: number, w: number, dft: Dft = fft): HalfSpectrum {
  const wf = halfWidth(w);
  const rows = rowTransforms(img, h, w, dft);
  const spec = { re: new Float32Array(h * wf), im: new Float32Array(h * wf) };
  const re = new Float64Array(h);
  const im = new Float64Array(h);
  for (let k = 0; k < wf; k++) {
    for (let y = 0; y < h; y++) {
      re[y] = rows.re[y * wf + k];
      im[y] = rows.im[y * wf + k];
    }
    dft(re, im, false);
    for (let y = 0; y < h; y++) {
      spec.re[y * wf + k] = re[y];
      spec.im[y * wf + k] = im[y];
    }
  }
  return spec;
}
