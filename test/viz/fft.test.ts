import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fft, halfWidth, irfft2, irfft2Adjoint, rfft2 } from '../../src/viz/dream/fft.js';
import { FourierParam } from '../../src/viz/dream/param/fourier.js';
import { PREPROCESS_TF, PREPROCESS_TORCH } from '../../src/image/preprocess.js';
import { Rng } from '../../src/util/rng.js';

const SIZES: [number, number][] = [[6, 8], [5, 7], [9, 10], [12, 15], [28, 26]];

function randoms(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

test('fft agrees with the direct DFT sum for composite and prime lengths, both directions', () => {
  const rng = new Rng(1);
  for (const n of [1, 2, 7, 12, 15, 29, 30]) {
    for (const inverse of [false, true]) {
      const re = Float64Array.from(randoms(rng, n));
      const im = Float64Array.from(randoms(rng, n));
      const [fr, fi] = [re.slice(), im.slice()];
      fft(fr, fi, inverse);
      const sign = inverse ? 1 : -1;
      for (let k = 0; k < n; k++) {
        let sr = 0;
        let si = 0;
        for (let j = 0; j < n; j++) {
          const a = (sign * 2 * Math.PI * j * k) / n;
          sr += re[j] * Math.cos(a) - im[j] * Math.sin(a);
          si += re[j] * Math.sin(a) + im[j] * Math.cos(a);
        }
        assert.ok(Math.abs(sr - fr[k]) < 1e-9 && Math.abs(si - fi[k]) < 1e-9, `n=${n} k=${k}`);
      }
    }
  }
});

test('irfft2 / irfft2Adjoint pass the dot-product test <A x, y> = <x, Aᵀ y>', () => {
  const rng = new Rng(2);
  for (const [h, w] of SIZES) {
    const n = h * halfWidth(w);
    const x = { re: randoms(rng, n), im: randoms(rng, n) };
    const y = randoms(rng, h * w);
    const ax = irfft2(x, h, w);
    const aty = irfft2Adjoint(y, h, w);
    let left = 0;
    let right = 0;
    for (let i = 0; i < h * w; i++) left += ax[i] * y[i];
    for (let i = 0; i < n; i++) right += x.re[i] * aty.re[i] + x.im[i] * aty.im[i];
    assert.ok(Math.abs(left - right) < 1e-5 * (Math.abs(left) + 1), `${h}×${w}: ${left} vs ${right}`);
  }
});

test('irfft2 matches the definition: the real inverse DFT of the Hermitian extension', () => {
  const rng = new Rng(3);
  const [h, w] = [4, 6];
  const wf = halfWidth(w);
  const spec = { re: randoms(rng, h * wf), im: randoms(rng, h * wf) };
  const img = irfft2(spec, h, w);
  // Written out: inverse DFT down the columns (Z), then each row sums mult·Re(Z[kx]·e^{2πi·kx·x/w}) with mult 2 for
  // mirrored columns and 1 for DC / Nyquist (whose imaginary part numpy's irfft ignores).
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let v = 0;
      for (let kx = 0; kx < wf; kx++) {
        let zr = 0;
        let zi = 0;
        for (let ky = 0; ky < h; ky++) {
          const a = (2 * Math.PI * ky * y) / h;
          zr += spec.re[ky * wf + kx] * Math.cos(a) - spec.im[ky * wf + kx] * Math.sin(a);
          zi += spec.re[ky * wf + kx] * Math.sin(a) + spec.im[ky * wf + kx] * Math.cos(a);
        }
        const mirrored = kx !== 0 && kx !== w / 2;
        const b = (2 * Math.PI * kx * x) / w;
        v += (mirrored ? 2 : 1) * (zr * Math.cos(b) - (mirrored ? zi * Math.sin(b) : 0));
      }
      assert.ok(Math.abs(v / (h * w) - img[y * w + x]) < 1e-5);
    }
  }
});

test('image → spectrum → image round trip (rfft2 then irfft2)', () => {
  const rng = new Rng(4);
  for (const [h, w] of SIZES) {
    const img = randoms(rng, h * w);
    const back = irfft2(rfft2(img, h, w), h, w);
    for (let i = 0; i < img.length; i++) assert.ok(Math.abs(back[i] - img[i]) < 1e-5);
  }
});

test('FourierParam: fromRgb(image).render() reproduces the image; backward matches finite differences', () => {
  const rng = new Rng(5);
  for (const pre of [PREPROCESS_TF, { ...PREPROCESS_TORCH, channelOrder: 'bgr' as const }]) {
    const [h, w] = [10, 12];
    const rgb = { data: Float32Array.from({ length: 3 * h * w }, () => rng.uniform(0.05, 0.95)), channels: 3, height: h, width: w };
    const param = FourierParam.fromRgb(rgb, pre);
    const rendered = param.renderRgb();
    for (let i = 0; i < rgb.data.length; i++) assert.ok(Math.abs(rendered.data[i] - rgb.data[i]) < 1e-4);

    const weights = randoms(rng, 3 * h * w);
    const objective = () => param.render().data.reduce((s, v, i) => s + v * weights[i], 0);
    param.render();
    const grad = param.backward({ data: weights, channels: 3, height: h, width: w });
    const dir = randoms(rng, param.params.length);
    const base = Float32Array.from(param.params);
    const eps = 1e-3;
    param.params.set(base.map((v, i) => v + eps * dir[i]));
    const up = objective();
    param.params.set(base.map((v, i) => v - eps * dir[i]));
    const down = objective();
    param.params.set(base);
    const fd = (up - down) / (2 * eps);
    const analytic = grad.reduce((s, g, i) => s + g * dir[i], 0);
    assert.ok(Math.abs(fd - analytic) < 2e-2 * Math.abs(analytic) + 1e-3, `fd ${fd} vs ${analytic}`);
  }
});
