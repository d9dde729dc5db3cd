import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jitter } from '../../src/viz/dream/transform/jitter.js';
import { randomScale } from '../../src/viz/dream/transform/scale.js';
import { randomRotate } from '../../src/viz/dream/transform/rotate.js';
import { affineWarp } from '../../src/viz/dream/transform/warp.js';
import { drawAll, type AppliedTransform } from '../../src/viz/dream/transform/transform.js';
import type { Planes } from '../../src/image/planes.js';
import { Rng } from '../../src/util/rng.js';

function randomPlanes(rng: Rng, h: number, w: number): Planes {
  return { data: Float32Array.from({ length: 3 * h * w }, () => rng.normal()), channels: 3, height: h, width: w };
}

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0);

function assertAdjoint(t: AppliedTransform, rng: Rng, h: number, w: number, what: string): void {
  const x = randomPlanes(rng, h, w);
  const ax = t.forward(x);
  const y = randomPlanes(rng, ax.height, ax.width);
  const aty = t.backward(y);
  assert.equal(aty.data.length, x.data.length);
  const [l, r] = [dot(ax.data, y.data), dot(x.data, aty.data)];
  assert.ok(Math.abs(l - r) < 1e-4 * (Math.abs(l) + 1), `${what}: ${l} vs ${r}`);
}

test('jitter crops a window shifted by at most ±px and its adjoint passes the dot-product test', () => {
  const rng = new Rng(1);
  const x = randomPlanes(rng, 12, 14);
  for (let i = 0; i < 10; i++) {
    const t = jitter(3).draw(rng);
    const out = t.forward(x);
    assert.deepEqual([out.height, out.width], [6, 8]);
    // Find the shift: the output must equal some window of x.
    const found = [];
    for (let top = 0; top <= 6; top++) for (let left = 0; left <= 6; left++) {
      let same = true;
      for (let c = 0; c < 3 && same; c++) for (let y = 0; y < 6 && same; y++) for (let xx = 0; xx < 8 && same; xx++) same = out.data[(c * 6 + y) * 8 + xx] === x.data[(c * 12 + y + top) * 14 + xx + left];
      if (same) found.push([top, left]);
    }
    assert.equal(found.length, 1);
    assertAdjoint(t, rng, 12, 14, 'jitter');
  }
});

test('warp: identity matrix is the identity; scale/rotate adjoints pass the dot-product test', () => {
  const rng = new Rng(2);
  const x = randomPlanes(rng, 9, 11);
  const same = affineWarp([1, 0, 0, 1]).forward(x);
  for (let i = 0; i < x.data.length; i++) assert.ok(Math.abs(same.data[i] - x.data[i]) < 1e-6);
  for (let i = 0; i < 5; i++) {
    assertAdjoint(randomScale().draw(rng), rng, 9, 11, 'scale');
    assertAdjoint(randomRotate().draw(rng), rng, 9, 11, 'rotate');
    assertAdjoint(drawAll([randomScale(), randomRotate(), jitter(2)], rng), rng, 13, 15, 'chain');
  }
});

test('rotate by 90° moves the content a quarter turn (checks the direction convention)', () => {
  const rng = new Rng(3);
  const x = randomPlanes(rng, 5, 5);
  const t = randomRotate([90]).draw(rng);
  const out = t.forward(x);
  // t = 90°: A = [[0, 1], [−1, 0]] about the centre (2, 2), so out(y, x) = in(x, 4 − y).
  for (let y = 0; y < 5; y++) for (let xx = 0; xx < 5; xx++) {
    assert.ok(Math.abs(out.data[y * 5 + xx] - x.data[xx * 5 + (4 - y)]) < 1e-5);
  }
});
