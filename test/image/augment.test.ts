import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  DEFAULT_AUGMENT,
  drawAugment,
  loadImageRgbCropped,
  randomResizedCropRegion,
  rotationZoom,
  PREPROCESS_TF,
  type Augment,
  type RgbImage,
} from '../../src/image/index.js';
import { Rng } from '../../src/util/rng.js';
import { catsDogs } from '../helpers/paths.js';

const cat = path.join(catsDogs, 'train', 'cats', 'cat.1.jpg');
const augmented = (spec: Augment, seed: number) => loadImageRgbCropped(cat, PREPROCESS_TF, { spec, rng: new Rng(seed) });

function mirror(img: RgbImage): Uint8Array {
  const out = new Uint8Array(img.data.length);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const from = (y * img.width + x) * 3;
      const to = (y * img.width + (img.width - 1 - x)) * 3;
      out.set(img.data.subarray(from, from + 3), to);
    }
  }
  return out;
}

test('same seed → identical augmented crop; different seeds → different crops', async () => {
  const a = await augmented(DEFAULT_AUGMENT, 42);
  const b = await augmented(DEFAULT_AUGMENT, 42);
  const c = await augmented(DEFAULT_AUGMENT, 43);
  assert.deepEqual([a.width, a.height], [224, 224]);
  assert.ok(Buffer.from(a.data).equals(Buffer.from(b.data)));
  assert.ok(!Buffer.from(a.data).equals(Buffer.from(c.data)));
});

test('RandomResizedCrop regions stay inside the image with area and ratio in range', () => {
  const rng = new Rng(7);
  for (let i = 0; i < 500; i++) {
    // Images whose own ratio is in range: a fallback, if any, keeps the whole image.
    const W = 100 + rng.int(400);
    const H = Math.round(W * rng.uniform(0.76, 1.32));
    const r = randomResizedCropRegion(W, H, [0.35, 1], [3 / 4, 4 / 3], rng);
    assert.ok(r.left >= 0 && r.top >= 0 && r.left + r.width <= W && r.top + r.height <= H, JSON.stringify({ W, H, r }));
    const area = (r.width * r.height) / (W * H);
    const ratio = r.width / r.height;
    assert.ok(area > 0.33 && area <= 1, `area ${area}`);
    assert.ok(ratio > 0.74 && ratio < 1.35, `ratio ${ratio}`);
  }
  // Impossible request (ratio far from the image's): falls back to a centre crop with the ratio clamped.
  const fallback = randomResizedCropRegion(400, 100, [0.99, 1], [1, 1], new Rng(1));
  assert.deepEqual(fallback, { left: 150, top: 0, width: 100, height: 100 });
});

test('a drawn flip is an exact horizontal mirror of the plain crop', async () => {
  const plain = await loadImageRgbCropped(cat, PREPROCESS_TF);
  let seen = 0;
  for (let seed = 0; seed < 6; seed++) {
    const draw = drawAugment({ flip: true }, new Rng(seed), 1, 1);
    const img = await augmented({ flip: true }, seed);
    const expected = draw.flip ? mirror(plain) : plain.data;
    assert.ok(Buffer.from(img.data).equals(Buffer.from(expected)), `seed ${seed} flip=${draw.flip}`);
    seen |= draw.flip ? 1 : 2;
  }
  assert.equal(seen, 3, 'six seeds should include both a flip and no flip');
});

test('brightness multiplies pixel values by the drawn factor', async () => {
  const plain = await loadImageRgbCropped(cat, PREPROCESS_TF);
  const factor = drawAugment({ brightness: 0.2 }, new Rng(5), 1, 1).brightness;
  assert.ok(factor >= 0.8 && factor <= 1.2 && factor !== 1);
  const img = await augmented({ brightness: 0.2 }, 5);
  for (let i = 0; i < img.data.length; i += 97) {
    const want = Math.min(255, plain.data[i] * factor);
    assert.ok(Math.abs(img.data[i] - want) <= 1, `value ${i}: ${img.data[i]} vs ${want}`);
  }
});

test('rotation zoom leaves no empty corners', async () => {
  assert.ok(Math.abs(rotationZoom(0, 224, 224) - 1) < 1e-12);
  // Square rotated by θ must grow by cos θ + sin θ to cover its own frame.
  const t = (10 * Math.PI) / 180;
  assert.ok(Math.abs(rotationZoom(-10, 224, 224) - (Math.cos(t) + Math.sin(t))) < 1e-12);
  for (let seed = 0; seed < 4; seed++) {
    const img = await augmented({ rotate: 30 }, seed);
    const corner = (x: number, y: number) => img.data.subarray((y * 224 + x) * 3, (y * 224 + x) * 3 + 3);
    for (const [x, y] of [[0, 0], [223, 0], [0, 223], [223, 223]]) {
      assert.ok([...corner(x, y)].some((v) => v > 8), `seed ${seed}: corner ${x},${y} is black`);
    }
  }
});

test('draws are identical for identical seeds and cover their ranges', () => {
  const a = drawAugment(DEFAULT_AUGMENT, new Rng(9), 500, 374);
  const b = drawAugment(DEFAULT_AUGMENT, new Rng(9), 500, 374);
  assert.deepEqual(a, b);
  const rng = new Rng(3);
  for (let i = 0; i < 200; i++) {
    const d = drawAugment(DEFAULT_AUGMENT, rng, 500, 374);
    assert.ok(Math.abs(d.angle) <= 10);
    assert.ok(d.brightness >= 0.8 && d.brightness <= 1.2 && d.contrast >= 0.8 && d.contrast <= 1.2);
    assert.equal(d.saturation, 1);
  }
});
