/**
 * BENCHMARK BASELINE ONLY: the hand-written mixed-radix FFT that src/viz/dream/fft.ts used before fft.js, kept so
 * bench/libraries.ts can compare both in the same run. Not imported by src/.
 *
 * Discrete Fourier transforms of any length (mixed radix, direct DFT for prime factors). The 2-D real transforms
 * are graft's own (src/viz/dream/fft.ts), run on this DFT in the benchmark, so only the 1-D transform differs.
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
