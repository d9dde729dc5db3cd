import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import {
  applyColormap,
  colormapLut,
  colormapRange,
  decodeImage,
  encodePng,
  escapeXml,
  overlayHeatmap,
  renderGrid,
  resizeNearest,
  resizeSmooth,
  savePng,
  upsampleBilinear,
  type RgbImage,
} from '../../src/image/index.js';

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-render-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const lutAt = (lut: Uint8Array, i: number) => [...lut.subarray(i * 3, i * 3 + 3)];
const to8 = (rgb: number[]) => rgb.map((v) => Math.round(v * 255));

test('viridis and magma LUTs match matplotlib at the ends; viridis lightness rises monotonically', () => {
  const viridis = colormapLut('viridis');
  const magma = colormapLut('magma');
  assert.equal(viridis.length, 768);
  // matplotlib _cm_listed.py: _viridis_data[0], [-1]; _magma_data[0], [-1].
  assert.deepEqual(lutAt(viridis, 0), to8([0.267004, 0.004874, 0.329415]));
  assert.deepEqual(lutAt(viridis, 255), to8([0.993248, 0.906157, 0.143936]));
  assert.deepEqual(lutAt(magma, 0), to8([0.001462, 0.000466, 0.013866]));
  assert.deepEqual(lutAt(magma, 255), to8([0.987053, 0.991438, 0.749504]));
  const luma = (i: number) => 0.2126 * viridis[i * 3] + 0.7152 * viridis[i * 3 + 1] + 0.0722 * viridis[i * 3 + 2];
  for (let i = 8; i < 256; i += 8) assert.ok(luma(i) > luma(i - 8), `viridis lightness at ${i}`);
  const div = colormapLut('diverging');
  assert.deepEqual(lutAt(div, 0), [0x05, 0x30, 0x61]);
  assert.deepEqual(lutAt(div, 255), [0x67, 0x00, 0x1f]);
  // Index 127.5 is the white stop; 127 and 128 are within a step of it.
  for (const i of [127, 128]) assert.ok(lutAt(div, i).every((v, c) => Math.abs(v - [0xf7, 0xf7, 0xf7][c]) <= 3));
});

test('applyColormap: min..max spreads over the LUT, fixed ranges clip, percentiles ignore outliers', () => {
  const lut = colormapLut('magma');
  const ramp = Float32Array.from({ length: 256 }, (_, i) => i * 0.5 - 10);
  const img = applyColormap(ramp, 16, 16, 'magma');
  assert.deepEqual([img.width, img.height], [16, 16]);
  for (let i = 0; i < 256; i++) assert.deepEqual([...img.data.subarray(i * 3, i * 3 + 3)], lutAt(lut, i));

  const clipped = applyColormap(Float32Array.from([-5, 0, 0.5, 1, 7]), 5, 1, 'magma', [0, 1]);
  assert.deepEqual([...clipped.data], [...lutAt(lut, 0), ...lutAt(lut, 0), ...lutAt(lut, 128), ...lutAt(lut, 255), ...lutAt(lut, 255)]);

  const values = Float32Array.from({ length: 101 }, (_, i) => i);
  values[100] = 1e6;
  const [lo, hi] = colormapRange(values, { percentile: 0.02 });
  // numpy.percentile(values, [2, 98]) with linear interpolation: positions 2 and 98 of the sorted 101 values.
  assert.equal(lo, 2);
  assert.equal(hi, 98);
  assert.deepEqual(colormapRange(Float32Array.from([-1, 3, NaN, Infinity]), { symmetric: true }), [-3, 3]);
});

test('diverging map is centred on zero by default; NaN gets the neutral colour', () => {
  const lut = colormapLut('diverging');
  const img = applyColormap(Float32Array.from([-2, 0, 1, NaN]), 4, 1, 'diverging');
  assert.deepEqual([...img.data.subarray(0, 3)], lutAt(lut, 0));
  assert.deepEqual([...img.data.subarray(3, 6)], lutAt(lut, 128));
  assert.deepEqual([...img.data.subarray(6, 9)], lutAt(lut, Math.round(0.75 * 255)));
  assert.deepEqual([...img.data.subarray(9, 12)], lutAt(lut, 128));
});

test('upsampleBilinear follows pixel-centre alignment (cv2.resize): [0, 4] → [0, 1, 3, 4]', () => {
  assert.deepEqual([...upsampleBilinear(Float32Array.from([0, 4]), 2, 1, 4, 1)], [0, 1, 3, 4]);
  // 2×2 → 4×4: the inner 2×2 block mixes the four corners with weights 3/4 and 1/4 per axis.
  const up = upsampleBilinear(Float32Array.from([0, 4, 8, 12]), 2, 2, 4, 4);
  assert.equal(up[1 * 4 + 1], 0 * 0.5625 + 4 * 0.1875 + 8 * 0.1875 + 12 * 0.0625);
  assert.equal(up[0], 0);
  assert.equal(up[15], 12);
});

test('PNG encode/save round-trips exactly; resizeNearest makes blocks; resizeSmooth keeps flat colour', async () => {
  const img: RgbImage = { data: Uint8Array.from([1, 2, 3, 250, 128, 0, 9, 99, 199, 40, 50, 60]), width: 2, height: 2 };
  const png = await encodePng(img);
  assert.deepEqual([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG');
  assert.deepEqual((await decodeImage(png)).data, img.data);
  const file = path.join(dir, 'sub', 'x.png');
  await savePng(img, file);
  assert.deepEqual((await decodeImage(file)).data, img.data);

  const big = await resizeNearest(img, 6, 4);
  assert.deepEqual([big.width, big.height], [6, 4]);
  for (let y = 0; y < 4; y++) {
    for (let x = 0; x < 6; x++) {
      const src = (Math.floor(y / 2) * 2 + Math.floor(x / 3)) * 3;
      assert.deepEqual([...big.data.subarray((y * 6 + x) * 3, (y * 6 + x) * 3 + 3)], [...img.data.subarray(src, src + 3)]);
    }
  }
  const flat: RgbImage = { data: new Uint8Array(10 * 10 * 3).fill(77), width: 10, height: 10 };
  const smooth = await resizeSmooth(flat, 23, 7);
  assert.deepEqual([smooth.width, smooth.height], [23, 7]);
  assert.ok(smooth.data.every((v) => v === 77));
});

test('overlayHeatmap: alpha 0 is the base, alpha 1 the coloured upsampled heat, 0.5 the average', () => {
  const base: RgbImage = { data: new Uint8Array(4 * 4 * 3).fill(100), width: 4, height: 4 };
  const heat = Float32Array.from([0, 4]);
  assert.deepEqual(overlayHeatmap(base, heat, [1, 2], 0, 'viridis').data, base.data);
  const full = overlayHeatmap(base, heat, [1, 2], 1, 'viridis');
  const expected = applyColormap(upsampleBilinear(heat, 2, 1, 4, 4), 4, 4, 'viridis');
  assert.deepEqual(full.data, expected.data);
  const half = overlayHeatmap(base, heat, [1, 2], 0.5, 'viridis');
  for (let i = 0; i < half.data.length; i++) assert.equal(half.data[i], Math.round(50 + expected.data[i] / 2));
});

function solid(width: number, height: number, rgb: [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, i * 3);
  return { data, width, height };
}

test('renderGrid: canvas size, tile placement, background, titles drawn', async () => {
  const colours: [number, number, number][] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255]];
  const tiles = colours.map((c) => ({ image: solid(8, 8, c) }));
  const png = await renderGrid(tiles, { columns: 3, tileSize: 32, padding: 2, background: '#000000' });
  const img = await decodeImage(png);
  // width = padding + columns·(tile + padding); height = padding + rows·(tile + padding).
  assert.deepEqual([img.width, img.height], [2 + 3 * 34, 2 + 2 * 34]);
  const at = (x: number, y: number) => [...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)];
  colours.forEach((c, i) => {
    const left = 2 + (i % 3) * 34;
    const top = 2 + Math.floor(i / 3) * 34;
    assert.deepEqual(at(left + 16, top + 16), c, `tile ${i}`);
    assert.deepEqual(at(left, top), c);
    assert.deepEqual(at(left + 31, top + 31), c);
  });
  assert.deepEqual(at(0, 0), [0, 0, 0]);
  assert.deepEqual(at(2 + 2 * 34 + 16, 2 + 34 + 16), [0, 0, 0], 'the empty sixth cell is background');

  // Non-square tiles keep their aspect ratio inside the square cell.
  const wide = await decodeImage(await renderGrid([{ image: solid(20, 10, [255, 0, 0]) }], { tileSize: 40, padding: 0 }));
  assert.deepEqual([wide.width, wide.height], [40, 40]);
  const wideAt = (x: number, y: number) => [...wide.data.subarray((y * 40 + x) * 3, (y * 40 + x) * 3 + 3)];
  assert.deepEqual(wideAt(20, 5), [255, 255, 255]);
  assert.deepEqual(wideAt(20, 20), [255, 0, 0]);

  const titled = tiles.map((t, i) => ({ ...t, title: `tile <${i}> & "x"` }));
  const withText = await decodeImage(await renderGrid(titled, { columns: 3, tileSize: 64, padding: 4, title: 'Feature maps: conv1' }));
  const caption = 18;
  const header = 28;
  assert.deepEqual([withText.width, withText.height], [4 + 3 * 68, header + 4 + 2 * (64 + caption + 4)]);
  const textAt = (x0: number, y0: number, w: number, h: number) => {
    let dark = 0;
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) if (withText.data[(y * withText.width + x) * 3] < 128) dark++;
    return dark;
  };
  assert.ok(textAt(0, 0, withText.width, header) > 20, 'the heading is drawn');
  assert.ok(textAt(4, header + 4 + 64, 64, caption) > 20, 'the first caption is drawn');
  assert.equal(textAt(4 + 68 * 2, header + 4 + 82 + 64, 64, caption), 0, 'no caption under the empty cell');
});

test('escapeXml escapes the five XML specials', () => {
  assert.equal(escapeXml(`a<b>&'"`), 'a&lt;b&gt;&amp;&apos;&quot;');
});

test('sharp can render the DejaVu font that grid titles use', async () => {
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="60" height="20"><text x="2" y="15" font-family="DejaVu Sans" font-size="14">Mg</text></svg>';
  const { data } = await sharp(Buffer.from(svg)).raw().toBuffer({ resolveWithObject: true });
  assert.ok(data.some((v) => v > 0));
});
