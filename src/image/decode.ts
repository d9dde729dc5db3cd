import fs from 'node:fs';
import sharp, { type Metadata, type Sharp } from 'sharp';
import { GraftError, errorMessage } from '../util/errors.js';

/** An 8-bit RGB image, pixels in row-major HWC order. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
  /** The file it came from, when it came from one. */
  source?: string;
}

export interface DecodeOptions {
  /** Refuse images with more pixels than this (width × height of one frame). Default: sharp's limit, 0x3FFF². */
  maxPixels?: number;
}

/** sharp's own default for limitInputPixels. */
export const DEFAULT_MAX_PIXELS = 0x3fff * 0x3fff;

/** An image whose header has been read and checked, ready for a sharp pipeline. */
export interface OpenedImage {
  /** sharp pipeline on the first frame, auto-oriented from EXIF, failing on truncated or corrupt data (failOn 'warning'). */
  image: Sharp;
  /** Size after EXIF orientation. */
  width: number;
  height: number;
  /** How the input is named in error messages: the path, or "image buffer (N bytes)". */
  name: string;
  source?: string;
}

const SUPPORTED = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif']);

// Recognised only to tell "an image graft does not read" apart from "not an image at all".
const OTHER_IMAGE_SIGNATURES: { name: string; test: (b: Uint8Array) => boolean }[] = [
  { name: 'BMP', test: (b) => startsWith(b, [0x42, 0x4d]) },
  { name: 'ICO', test: (b) => startsWith(b, [0, 0, 1, 0]) },
  { name: 'PSD', test: (b) => ascii(b, 0, 4) === '8BPS' },
  { name: 'JPEG 2000', test: (b) => ascii(b, 4, 8) === 'jP  ' || startsWith(b, [0xff, 0x4f, 0xff, 0x51]) },
  { name: 'JPEG XL', test: (b) => startsWith(b, [0xff, 0x0a]) || ascii(b, 4, 8) === 'JXL ' },
  { name: 'HEIC', test: (b) => ascii(b, 4, 8) === 'ftyp' },
  { name: 'QOI', test: (b) => ascii(b, 0, 4) === 'qoif' },
  { name: 'PDF', test: (b) => ascii(b, 0, 5) === '%PDF-' },
  { name: 'SVG', test: (b) => /^\s*(<\?xml[^>]*>\s*)?<svg[\s>]/i.test(ascii(b, 0, 256)) },
];

function startsWith(b: Uint8Array, sig: number[]): boolean {
  return b.length >= sig.length && sig.every((v, i) => b[i] === v);
}

function ascii(b: Uint8Array, from: number, to: number): string {
  return Buffer.from(b.subarray(from, Math.min(to, b.length))).toString('latin1');
}

function decodeError(name: string, reason: string, cause?: unknown): GraftError {
  return new GraftError('IMAGE_DECODE', `cannot decode ${name}: ${reason}`, cause === undefined ? undefined : { cause });
}

async function readSource(source: string | Uint8Array): Promise<{ bytes: Uint8Array; name: string }> {
  if (typeof source !== 'string') {
    const name = `image buffer (${source.length} bytes)`;
    if (source.length === 0) throw decodeError(name, 'the buffer is empty');
    return { bytes: source, name };
  }
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(source);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw decodeError(source, 'file not found', err);
    if (code === 'EISDIR') throw decodeError(source, 'it is a directory, not a file', err);
    throw decodeError(source, `cannot read the file (${errorMessage(err)})`, err);
  }
  if (bytes.length === 0) throw decodeError(source, 'the file is empty (0 bytes)');
  return { bytes, name: source };
}

function unrecognisedReason(bytes: Uint8Array): string {
  const other = OTHER_IMAGE_SIGNATURES.find((s) => s.test(bytes));
  if (other) return `unsupported image format (${other.name}); graft reads JPEG, PNG, WebP, GIF, TIFF and AVIF`;
  return 'not an image (the content matches no known image format, whatever the file name says)';
}

/** Reads a file or buffer, checks its header (format, size) and returns a sharp pipeline on it. */
export async function openImage(source: string | Uint8Array, opts: DecodeOptions = {}): Promise<OpenedImage> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const { bytes, name } = await readSource(source);
  let meta: Metadata;
  try {
    meta = await sharp(bytes).metadata();
  } catch (err) {
    if (/unsupported image format/i.test(errorMessage(err))) throw decodeError(name, unrecognisedReason(bytes), err);
    throw decodeError(name, `corrupt image header (${errorMessage(err)})`, err);
  }
  const format = meta.format as string;
  if (!SUPPORTED.has(format) || (format === 'heif' && meta.compression !== 'av1')) {
    const label = format === 'heif' ? 'HEIC' : format.toUpperCase();
    throw decodeError(name, `unsupported image format (${label}); graft reads JPEG, PNG, WebP, GIF, TIFF and AVIF`);
  }
  const pixels = meta.width * meta.height;
  if (pixels > maxPixels) {
    throw decodeError(name, `image too large: ${meta.width}×${meta.height} = ${pixels} pixels, over the limit of ${maxPixels}`);
  }
  const oriented = meta.autoOrient ?? { width: meta.width, height: meta.height };
  const image = sharp(bytes, { failOn: 'warning', limitInputPixels: maxPixels, autoOrient: true, pages: 1 });
  return { image, width: oriented.width, height: oriented.height, name, source: typeof source === 'string' ? source : undefined };
}

function describeSharpFailure(err: unknown): string {
  const msg = errorMessage(err);
  if (/premature end|truncat|corrupt|read error|unexpected end|not enough data/i.test(msg)) return `the data is truncated or corrupt (${msg})`;
  if (/exceeds pixel limit/i.test(msg)) return 'image too large for the pixel limit';
  return `the image data cannot be decoded (${msg})`;
}

/** Runs a pipeline from openImage to 8-bit RGB: CMYK/grey/16-bit converted to sRGB, alpha dropped. */
export async function toRgb(opened: OpenedImage, image: Sharp = opened.image): Promise<RgbImage> {
  try {
    const { data, info } = await image
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels instead of 3`);
    const rgb: RgbImage = { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
    if (opened.source !== undefined) rgb.source = opened.source;
    return rgb;
  } catch (err) {
    throw decodeError(opened.name, describeSharpFailure(err), err);
  }
}

/** Decodes an image file or buffer to 8-bit RGB, as PIL's `Image.open(f).convert('RGB')` after EXIF transpose. */
export async function decodeImage(source: string | Uint8Array, opts: DecodeOptions = {}): Promise<RgbImage> {
  return toRgb(await openImage(source, opts));
}
