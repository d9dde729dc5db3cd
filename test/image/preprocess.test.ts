import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import {
  decodeImage,
  fromTensor,
  imageToTensor,
  loadImageRgbCropped,
  toTensor,
  PREPROCESS_TF,
  PREPROCESS_TORCH,
  PREPROCESS_UNIT,
  type Preprocess,
  type RgbImage,
} from '../../src/image/index.js';
import { GraftError } from '../../src/util/errors.js';
import { catsDogs } from '../helpers/paths.js';

const cat = path.join(catsDogs, 'train', 'cats', 'cat.0.jpg');

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

/** Oracle, step by step: resize the full decode to rw×rh, then cut w×h at (left, top) — torchvision's Resize + CenterCrop. */
async function resizeThenCrop(full: RgbImage, rw: number, rh: number, left: number, top: number, w: number, h: number) {
  const resized = await sharp(full.data, { raw: { width: full.width, height: full.height, channels: 3 } })
    .resize(rw, rh, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer();
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) out.set(resized.subarray(((top + y) * rw + left) * 3, ((top + y) * rw + left + w) * 3), y * w * 3);
  return out;
}

test('the test photo is the expected 500×374 JPEG', async () => {
  assert.ok(fs.existsSync(cat), `missing ${cat}`);
  const full = await decodeImage(cat);
  assert.deepEqual([full.width, full.height], [500, 374]);
});

test('torch crop: 500×374 resized to 342×256, centre 224 at (59, 16)', async () => {
  const crop = await loadImageRgbCropped(cat, PREPROCESS_TORCH);
  assert.deepEqual([crop.width, crop.height, crop.data.length], [224, 224, 224 * 224 * 3]);
  // 500·256/374 = 342.2 → 342; left = (342.2 - 224)/2 = 59.1 → 59; top = (256 - 224)/2 = 16.
  const expected = await resizeThenCrop(await decodeImage(cat), 342, 256, 59, 16, 224, 224);
  assert.ok(meanAbsDiff(crop.data, expected) < 1, `mean |diff| ${meanAbsDiff(crop.data, expected)}`);
});

test('TF crop: shorter side to 224 (299×224), centre square at (38, 0); stretch and pad modes', async () => {
  const full = await decodeImage(cat);
  const tf = await loadImageRgbCropped(cat, PREPROCESS_TF);
  // 500·224/374 = 299.47 → 299; left = (299.47 - 224)/2 = 37.7 → 38.
  const expected = await resizeThenCrop(full, 299, 224, 38, 0, 224, 224);
  assert.ok(meanAbsDiff(tf.data, expected) < 1);

  const stretch = await loadImageRgbCropped(cat, { ...PREPROCESS_TF, size: [100, 160], resize: 'stretch' });
  assert.deepEqual([stretch.width, stretch.height], [160, 100]);
  const stretchRef = await resizeThenCrop(full, 160, 100, 0, 0, 160, 100);
  assert.ok(meanAbsDiff(stretch.data, stretchRef) < 1);

  // 500×374 into 224×224 keeps aspect: 224×167.5, so ~28 black rows above and below.
  const pad = await loadImageRgbCropped(cat, { ...PREPROCESS_TF, resize: 'pad' });
  const row = (y: number) => pad.data.subarray(y * 224 * 3, (y + 1) * 224 * 3);
  for (const y of [0, 10, 27, 196, 213, 223]) assert.ok(row(y).every((v) => v === 0), `row ${y} should be padding`);
  for (const y of [29, 112, 194]) assert.ok(row(y).some((v) => v > 0), `row ${y} should be image`);
});

test('resizeTo smaller than the input size is refused', async () => {
  await assert.rejects(loadImageRgbCropped(cat, { ...PREPROCESS_TORCH, resizeTo: 200 }), (err: unknown) => err instanceof GraftError && err.code === 'BAD_ARGUMENT');
});

test('normalisation matches a manual computation from the 8-bit crop, for every preset', async () => {
  const crop = await loadImageRgbCropped(cat, PREPROCESS_TORCH);
  const cases: [Preprocess, (v: number, c: number) => number][] = [
    [PREPROCESS_TF, (v) => v / 127.5 - 1],
    [PREPROCESS_UNIT, (v) => v / 255],
    [PREPROCESS_TORCH, (v, c) => (v / 255 - [0.485, 0.456, 0.406][c]) / [0.229, 0.224, 0.225][c]],
  ];
  for (const [pre, f] of cases) {
    const t = toTensor(crop, pre);
    assert.equal(t.length, 3 * 224 * 224);
    for (let y = 0; y < 224; y += 7) {
      for (let x = 0; x < 224; x += 5) {
        for (let c = 0; c < 3; c++) {
          const v = crop.data[(y * 224 + x) * 3 + c];
          const at = pre.layout === 'NCHW' ? c * 224 * 224 + y * 224 + x : (y * 224 + x) * 3 + c;
          assert.ok(Math.abs(t[at] - f(v, c)) < 1e-5, `${pre.layout} (${x},${y},${c}): ${t[at]} vs ${f(v, c)}`);
        }
      }
    }
  }
});

test('NCHW and NHWC hold the same values transposed; BGR reverses the channels', async () => {
  const crop = await loadImageRgbCropped(cat, PREPROCESS_TORCH);
  const nchw = toTensor(crop, PREPROCESS_TORCH);
  const nhwc = toTensor(crop, { ...PREPROCESS_TORCH, layout: 'NHWC' });
  // mean/std are per network channel, so a BGR network lists them in BGR order.
  const bgr = toTensor(crop, { ...PREPROCESS_TORCH, channelOrder: 'bgr', mean: [0.406, 0.456, 0.485], std: [0.225, 0.224, 0.229] });
  const plane = 224 * 224;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      assert.equal(nhwc[i * 3 + c], nchw[c * plane + i]);
      assert.equal(bgr[(2 - c) * plane + i], nchw[c * plane + i]);
    }
  }
});

test('fromTensor(toTensor(x)) == x, and out-of-range values are clamped', async () => {
  const crop = await loadImageRgbCropped(cat, PREPROCESS_TORCH);
  for (const pre of [PREPROCESS_TF, PREPROCESS_TORCH, PREPROCESS_UNIT, { ...PREPROCESS_TORCH, channelOrder: 'bgr' as const, layout: 'NHWC' as const }]) {
    const back = fromTensor(toTensor(crop, pre), pre);
    assert.deepEqual([back.width, back.height], [224, 224]);
    assert.ok(Buffer.from(back.data).equals(Buffer.from(crop.data)), `${pre.layout}/${pre.channelOrder} round trip`);
  }
  const t = new Float32Array(3 * 224 * 224);
  t[0] = 5; // NHWC pixel (0,0) red, far above 1
  t[1] = -5;
  t[2] = NaN;
  const img = fromTensor(t, PREPROCESS_UNIT);
  assert.deepEqual([...img.data.subarray(0, 3)], [255, 0, 0]);
  assert.throws(() => fromTensor(new Float32Array(10), PREPROCESS_UNIT), (err: unknown) => err instanceof GraftError && err.code === 'SHAPE');
});

test('imageToTensor = toTensor(loadImageRgbCropped)', async () => {
  const a = await imageToTensor(cat, PREPROCESS_TORCH);
  const b = toTensor(await loadImageRgbCropped(cat, PREPROCESS_TORCH), PREPROCESS_TORCH);
  assert.deepEqual(a, b);
});

test('EXIF orientation is honoured by the crop pipeline too', async () => {
  const quads = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]);
  const jpeg = await sharp(quads, { raw: { width: 2, height: 2, channels: 3 } })
    .resize(80, 40, { kernel: 'nearest' })
    .jpeg({ quality: 100 })
    .withMetadata({ orientation: 6 })
    .toBuffer();
  const crop = await loadImageRgbCropped(jpeg, { ...PREPROCESS_UNIT, size: [80, 40], resize: 'stretch' });
  const at = (x: number, y: number) => [...crop.data.subarray((y * 40 + x) * 3, (y * 40 + x) * 3 + 3)];
  // Displayed: blue | red over white | green (see decode.test for the mapping).
  const near = (got: number[], want: number[]) => got.every((v, i) => Math.abs(v - want[i]) < 40);
  assert.ok(near(at(10, 20), [0, 0, 255]), `top-left ${at(10, 20)}`);
  assert.ok(near(at(30, 20), [255, 0, 0]), `top-right ${at(30, 20)}`);
  assert.ok(near(at(10, 60), [255, 255, 255]), `bottom-left ${at(10, 60)}`);
  assert.ok(near(at(30, 60), [0, 255, 0]), `bottom-right ${at(30, 60)}`);
});
