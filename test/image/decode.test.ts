import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { decodeImage, type RgbImage } from '../../src/image/index.js';
import { GraftError } from '../../src/util/errors.js';

let dir: string;
const file = (name: string) => path.join(dir, name);

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-decode-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Deterministic RGB pattern: every pixel distinct enough to catch misplacement. */
function pattern(width: number, height: number): Buffer {
  const buf = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      buf[i] = (x * 37 + y * 11) & 255;
      buf[i + 1] = (x * 5 + y * 53) & 255;
      buf[i + 2] = (x * y + 7) & 255;
    }
  }
  return buf;
}

const raw = (width: number, height: number, channels: 1 | 2 | 3 | 4 = 3) => ({ raw: { width, height, channels } });

function pixel(img: RgbImage, x: number, y: number): number[] {
  const i = (y * img.width + x) * 3;
  return [img.data[i], img.data[i + 1], img.data[i + 2]];
}

async function assertDecodeError(target: string, maxPixels: number | undefined, reason: RegExp): Promise<void> {
  await assert.rejects(decodeImage(target, { maxPixels }), (err: unknown) => {
    assert.ok(err instanceof GraftError, `expected GraftError, got ${String(err)}`);
    assert.equal(err.code, 'IMAGE_DECODE');
    assert.ok(err.message.includes(target), `message should name the file: ${err.message}`);
    assert.match(err.message, reason);
    return true;
  });
}

test('lossless formats (PNG, TIFF, WebP lossless) decode to the exact pixels', async () => {
  const px = pattern(13, 7);
  for (const [name, encode] of [
    ['p.png', (s: Sharp) => s.png()],
    ['p.tiff', (s: Sharp) => s.tiff({ compression: 'lzw' })],
    ['p.webp', (s: Sharp) => s.webp({ lossless: true })],
  ] as const) {
    await encode(sharp(px, raw(13, 7))).toFile(file(name));
    const img = await decodeImage(file(name));
    assert.equal(img.width, 13);
    assert.equal(img.height, 7);
    assert.deepEqual(Buffer.from(img.data), px, name);
    assert.equal(img.source, file(name));
  }
});

test('RGBA PNG: alpha dropped, colour kept even where fully transparent (as PIL convert("RGB"))', async () => {
  const rgba = Buffer.from([10, 20, 30, 0, 40, 50, 60, 128, 70, 80, 90, 255]);
  await sharp(rgba, raw(3, 1, 4)).png().toFile(file('a.png'));
  const img = await decodeImage(file('a.png'));
  assert.deepEqual([...img.data], [10, 20, 30, 40, 50, 60, 70, 80, 90]);
});

test('16-bit PNG becomes 8-bit (v/257 for exact multiples, within 1 otherwise)', async () => {
  const values = new Uint16Array([0, 65535, 257 * 100, 257 * 7, 30000, 1234]);
  await sharp(values, raw(2, 1)).toColourspace('rgb16').png().toFile(file('deep.png'));
  assert.equal((await sharp(file('deep.png')).metadata()).depth, 'ushort');
  const img = await decodeImage(file('deep.png'));
  assert.deepEqual([...img.data.subarray(0, 4)], [0, 255, 100, 7]);
  assert.ok(Math.abs(img.data[4] - 30000 / 257) <= 1, `got ${img.data[4]}`);
  assert.ok(Math.abs(img.data[5] - 1234 / 257) <= 1, `got ${img.data[5]}`);
});

test('grayscale JPEG becomes RGB with three equal channels', async () => {
  await sharp({ create: { width: 8, height: 6, channels: 3, background: { r: 90, g: 90, b: 90 } } })
    .toColourspace('b-w')
    .jpeg({ quality: 95 })
    .toFile(file('gray.jpg'));
  assert.equal((await sharp(file('gray.jpg')).metadata()).channels, 1);
  const img = await decodeImage(file('gray.jpg'));
  assert.equal(img.data.length, 8 * 6 * 3);
  for (let i = 0; i < 8 * 6; i++) {
    assert.equal(img.data[i * 3], img.data[i * 3 + 1]);
    assert.equal(img.data[i * 3], img.data[i * 3 + 2]);
    assert.ok(Math.abs(img.data[i * 3] - 90) <= 2);
  }
});

test('CMYK JPEG is converted to sRGB', async () => {
  await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 30, b: 40 } } })
    .toColourspace('cmyk')
    .jpeg({ quality: 100 })
    .toFile(file('cmyk.jpg'));
  const meta = await sharp(file('cmyk.jpg')).metadata();
  assert.equal(meta.space, 'cmyk');
  const img = await decodeImage(file('cmyk.jpg'));
  assert.equal(img.data.length, 8 * 8 * 3);
  const [r, g, b] = pixel(img, 4, 4);
  // Colour-managed round trip through CMYK is not exact; it must stay the same red.
  for (const [got, want] of [[r, 200], [g, 30], [b, 40]]) assert.ok(Math.abs(got - want) <= 45, `got ${[r, g, b]}`);
});

test('EXIF orientation 6 swaps width/height and rotates the pixels 90° clockwise', async () => {
  const w = 40;
  const h = 20;
  // Four flat quadrants, so JPEG stays exact enough away from the edges.
  const quads = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]);
  const stored = await sharp(quads, raw(2, 2)).resize(w, h, { kernel: 'nearest' }).raw().toBuffer();
  await sharp(stored, raw(w, h)).jpeg({ quality: 100 }).withMetadata({ orientation: 6 }).toFile(file('rot6.jpg'));
  const unrotated = await sharp(file('rot6.jpg')).raw().toBuffer(); // sharp without autoOrient ignores the tag
  const img = await decodeImage(file('rot6.jpg'));
  assert.equal(img.width, h);
  assert.equal(img.height, w);
  // Orientation 6: displayed (x', y') shows stored (x = y', y = h - 1 - x').
  for (let y2 = 0; y2 < w; y2++) {
    for (let x2 = 0; x2 < h; x2++) {
      const s = ((h - 1 - x2) * w + y2) * 3;
      assert.deepEqual(pixel(img, x2, y2), [unrotated[s], unrotated[s + 1], unrotated[s + 2]], `pixel ${x2},${y2}`);
    }
  }
  // Top-left of the displayed image is the stored bottom-left quadrant: blue.
  const [r, g, b] = pixel(img, 5, 5);
  assert.ok(b > 200 && r < 50 && g < 50, `got ${[r, g, b]}`);
});

test('animated GIF: first frame only', async () => {
  const frames = Buffer.concat([Buffer.alloc(4 * 4 * 3, 200), Buffer.alloc(4 * 4 * 3, 20)]);
  await sharp(frames, { raw: { width: 4, height: 8, channels: 3, pageHeight: 4 } }).gif().toFile(file('anim.gif'));
  assert.equal((await sharp(file('anim.gif')).metadata()).pages, 2);
  const img = await decodeImage(file('anim.gif'));
  assert.equal(img.width, 4);
  assert.equal(img.height, 4);
  for (const v of img.data) assert.ok(Math.abs(v - 200) <= 3, `got ${v}`);
});

test('content decides the format: a GIF named .jpg decodes', async () => {
  await sharp({ create: { width: 5, height: 3, channels: 3, background: { r: 0, g: 0, b: 255 } } }).gif().toFile(file('really-gif.jpg'));
  const img = await decodeImage(file('really-gif.jpg'));
  assert.equal(img.width, 5);
  assert.equal(img.height, 3);
  assert.deepEqual(pixel(img, 2, 1), [0, 0, 255]);
});

test('AVIF decodes when sharp can write it', async (t) => {
  try {
    await sharp({ create: { width: 16, height: 12, channels: 3, background: { r: 120, g: 60, b: 30 } } })
      .avif({ quality: 90 })
      .toFile(file('x.avif'));
  } catch {
    t.skip('this sharp build cannot encode AVIF');
    return;
  }
  const img = await decodeImage(file('x.avif'));
  assert.equal(img.width, 16);
  assert.equal(img.height, 12);
  const [r, g, b] = pixel(img, 8, 6);
  for (const [got, want] of [[r, 120], [g, 60], [b, 30]]) assert.ok(Math.abs(got - want) <= 8, `got ${[r, g, b]}`);
});

test('a Uint8Array input decodes like the file', async () => {
  const px = pattern(6, 4);
  const png = await sharp(px, raw(6, 4)).png().toBuffer();
  const img = await decodeImage(new Uint8Array(png));
  assert.deepEqual(Buffer.from(img.data), px);
  assert.equal(img.source, undefined);
});

test('truncated JPEG and PNG fail (no silent grey)', async () => {
  const jpeg = await sharp(pattern(64, 64), raw(64, 64)).jpeg().toBuffer();
  fs.writeFileSync(file('cut.jpg'), jpeg.subarray(0, Math.floor(jpeg.length * 0.6)));
  await assertDecodeError(file('cut.jpg'), undefined, /truncated or corrupt/);
  const png = await sharp(pattern(64, 64), raw(64, 64)).png().toBuffer();
  fs.writeFileSync(file('cut.png'), png.subarray(0, Math.floor(png.length * 0.6)));
  await assertDecodeError(file('cut.png'), undefined, /truncated or corrupt/);
});

test('JPEG with corrupt entropy-coded data fails', async () => {
  const jpeg = await sharp(pattern(64, 64), raw(64, 64)).jpeg().toBuffer();
  const at = Math.floor(jpeg.length * 0.4);
  // Stuffed 0xFF bytes (FF 00) decode as runs of one-bits, which no Huffman table accepts.
  for (let i = 0; i < 40; i++) jpeg[at + i] = i % 2 === 0 ? 0xff : 0x00;
  fs.writeFileSync(file('garbled.jpg'), jpeg);
  await assertDecodeError(file('garbled.jpg'), undefined, /truncated or corrupt/);
});

test('zero-byte file, missing file, directory', async () => {
  fs.writeFileSync(file('empty.jpg'), '');
  await assertDecodeError(file('empty.jpg'), undefined, /empty \(0 bytes\)/);
  await assertDecodeError(file('nope.jpg'), undefined, /file not found/);
  await assertDecodeError(dir, undefined, /directory/);
});

test('a text file named .jpg is "not an image"', async () => {
  fs.writeFileSync(file('notes.jpg'), 'these are my holiday notes, not a photo\n');
  await assertDecodeError(file('notes.jpg'), undefined, /not an image/);
});

test('known but unsupported formats say so (BMP by signature, SVG by sharp format)', async () => {
  // A hand-built 1×1 24-bit BMP.
  const bmp = Buffer.alloc(58);
  bmp.write('BM', 0, 'latin1');
  bmp.writeUInt32LE(58, 2);
  bmp.writeUInt32LE(54, 10);
  bmp.writeUInt32LE(40, 14);
  bmp.writeInt32LE(1, 18);
  bmp.writeInt32LE(1, 22);
  bmp.writeUInt16LE(1, 26);
  bmp.writeUInt16LE(24, 28);
  fs.writeFileSync(file('old.bmp'), bmp);
  await assertDecodeError(file('old.bmp'), undefined, /unsupported image format \(BMP\)/);
  fs.writeFileSync(file('vector.svg'), '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>');
  await assertDecodeError(file('vector.svg'), undefined, /unsupported image format \(SVG\)/);
});

test('an image over maxPixels is refused; the default limit accepts it', async () => {
  await sharp({ create: { width: 300, height: 10, channels: 3, background: '#808080' } }).png().toFile(file('wide.png'));
  await assertDecodeError(file('wide.png'), 2000, /too large: 300×10 = 3000 pixels, over the limit of 2000/);
  const img = await decodeImage(file('wide.png'));
  assert.equal(img.width, 300);
});
