/**
 * Training checkpoints: one file `DIR/checkpoint.bin` written atomically (temp file, fsync, rename), so a
 * crash leaves either the previous checkpoint or the new one. Layout: magic, u32 header length, JSON header,
 * then 8-byte-aligned little-endian float32/float64 sections listed in the header.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../util/fsutil.js';
import { GraftError } from '../../util/errors.js';

export const CHECKPOINT_FILE = 'checkpoint.bin';
const MAGIC = 'GRAFTCK1';

export type CheckpointArray = Float32Array | Float64Array;

interface Section {
  name: string;
  dtype: 'float32' | 'float64';
  offset: number;
  length: number;
}

export interface Checkpoint<Meta> {
  meta: Meta;
  tensors: Map<string, CheckpointArray>;
}

const align8 = (n: number) => Math.ceil(n / 8) * 8;

/** Serialises a checkpoint (JSON metadata + named float arrays) into bytes. */
export function encodeCheckpoint<Meta>(meta: Meta, tensors: Map<string, CheckpointArray>): Uint8Array {
  const sections: Section[] = [];
  let offset = 0;
  for (const [name, data] of tensors) {
    sections.push({ name, dtype: data instanceof Float64Array ? 'float64' : 'float32', offset, length: data.length });
    offset = align8(offset + data.byteLength);
  }
  const header = Buffer.from(JSON.stringify({ meta, sections }), 'utf8');
  const start = align8(MAGIC.length + 4 + header.length);
  const out = new Uint8Array(start + offset);
  out.set(Buffer.from(MAGIC, 'latin1'), 0);
  new DataView(out.buffer).setUint32(MAGIC.length, header.length, true);
  out.set(header, MAGIC.length + 4);
  sections.forEach((s, i) => {
    const data = [...tensors.values()][i];
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), start + s.offset);
  });
  return out;
}

/** Parses bytes written by encodeCheckpoint; `where` names the file in errors. */
export function decodeCheckpoint<Meta>(bytes: Uint8Array, where: string): Checkpoint<Meta> {
  if (Buffer.from(bytes.subarray(0, MAGIC.length)).toString('latin1') !== MAGIC) throw new GraftError('CHECKPOINT', `${where}: not a graft training checkpoint`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(MAGIC.length, true);
  const start = align8(MAGIC.length + 4 + headerLength);
  let header: { meta: Meta; sections: Section[] };
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(MAGIC.length + 4, MAGIC.length + 4 + headerLength)).toString('utf8')) as typeof header;
  } catch (err) {
    throw new GraftError('CHECKPOINT', `${where}: unreadable header`, { cause: err });
  }
  const tensors = new Map<string, CheckpointArray>();
  for (const s of header.sections) {
    const width = s.dtype === 'float64' ? 8 : 4;
    const from = start + s.offset;
    if (from + s.length * width > bytes.length) throw new GraftError('CHECKPOINT', `${where}: section ${s.name} is truncated`);
    // A Buffer's slice() is a view; the typed arrays need their own aligned copy.
    const copy = Uint8Array.prototype.slice.call(bytes, from, from + s.length * width);
    tensors.set(s.name, s.dtype === 'float64' ? new Float64Array(copy.buffer) : new Float32Array(copy.buffer));
  }
  return { meta: header.meta, tensors };
}

/** Writes DIR/checkpoint.bin atomically. */
export async function writeCheckpoint<Meta>(dir: string, meta: Meta, tensors: Map<string, CheckpointArray>): Promise<string> {
  const file = path.join(dir, CHECKPOINT_FILE);
  await writeFileAtomic(file, encodeCheckpoint(meta, tensors));
  return file;
}

/** Reads DIR/checkpoint.bin (DIR may also be the file itself); undefined when there is none. */
export function readCheckpoint<Meta>(dirOrFile: string): Checkpoint<Meta> | undefined {
  const file = dirOrFile.endsWith('.bin') ? dirOrFile : path.join(dirOrFile, CHECKPOINT_FILE);
  if (!fs.existsSync(file)) return undefined;
  return decodeCheckpoint<Meta>(fs.readFileSync(file), file);
}
