import fs from 'node:fs';
import { GraftError, errorMessage } from './errors.js';
import { writeFileAtomicSync } from './fsutil.js';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

/** NumPy format 1.0 header for a C-order little-endian float32 array, padded so the data starts at a multiple of 64 bytes. */
export function npyHeader(shape: number[]): Buffer {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${dims}, }`;
  const unpadded = MAGIC.length + 4 + dict.length + 1;
  const header = dict + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const prefix = Buffer.alloc(MAGIC.length + 4);
  MAGIC.copy(prefix);
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1')]);
}

/** Writes a float32 array as a NumPy .npy file (v1.0, little-endian, C order). */
export function writeNpy(file: string, data: Float32Array, shape: number[]): void {
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new GraftError('SHAPE', `writeNpy ${file}: shape [${shape.join(', ')}] has a dimension that is not a non-negative integer`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new GraftError('SHAPE', `writeNpy ${file}: shape [${shape.join(', ')}] holds ${count} values but the data has ${data.length}`);
  }
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  writeFileAtomicSync(file, Buffer.concat([npyHeader(shape), body]));
}

function badNpy(file: string, reason: string): GraftError {
  return new GraftError('BAD_ARGUMENT', `cannot read ${file} as .npy: ${reason}`);
}

/** Parses the header dict, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }. */
function parseHeader(file: string, text: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw badNpy(file, `malformed header ${JSON.stringify(text.trim())}`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw badNpy(file, `bad shape (${shapeText})`);
  return { descr, fortran: fortran === 'True', shape };
}

/** Reads a NumPy .npy file (versions 1–3) holding little-endian float32 or float64 (converted to float32), C order. */
export function readNpy(file: string): { data: Float32Array; shape: number[] } {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new GraftError(code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'BAD_ARGUMENT', `cannot read ${file}: ${errorMessage(err)}`, { cause: err });
  }
  if (bytes.length < 10 || !bytes.subarray(0, 6).equals(MAGIC)) throw badNpy(file, 'missing the \\x93NUMPY magic bytes');
  const major = bytes[6];
  if (major < 1 || major > 3) throw badNpy(file, `unknown format version ${major}.${bytes[7]}`);
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const dataStart = (major === 1 ? 10 : 12) + headerLength;
  if (bytes.length < dataStart) throw badNpy(file, 'the header is cut short');
  const header = parseHeader(file, bytes.subarray(major === 1 ? 10 : 12, dataStart).toString(major === 3 ? 'utf8' : 'latin1'));
  if (header.fortran) throw badNpy(file, 'Fortran-order arrays are not supported (save with C order)');
  const itemSize = header.descr === '<f4' ? 4 : header.descr === '<f8' ? 8 : 0;
  if (itemSize === 0) throw badNpy(file, `dtype '${header.descr}' is not supported (only little-endian float32 '<f4' and float64 '<f8')`);
  const count = header.shape.reduce((a, b) => a * b, 1);
  if (bytes.length - dataStart !== count * itemSize) {
    throw badNpy(file, `shape (${header.shape.join(', ')}) needs ${count * itemSize} data bytes, the file has ${bytes.length - dataStart}`);
  }
  // Copy into a fresh, aligned buffer: the file's data may start at an offset typed arrays cannot view.
  const aligned = new Uint8Array(count * itemSize);
  aligned.set(bytes.subarray(dataStart));
  const data = itemSize === 4 ? new Float32Array(aligned.buffer) : Float32Array.from(new Float64Array(aligned.buffer));
  return { data, shape: header.shape };
}
