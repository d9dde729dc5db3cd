/**
 * BENCHMARK BASELINE ONLY (see codec-hand-written.ts). Not imported by src/.
 *
 * Minimal protocol-buffers wire format: just what onnx.proto needs. Hand-written so that large
 * raw_data fields are never copied on read and written without re-encoding.
 */

export const enum Wire {
  Varint = 0,
  Fixed64 = 1,
  Bytes = 2,
  Fixed32 = 5,
}

export class ProtoReader {
  pos: number;
  readonly end: number;

  constructor(readonly buf: Uint8Array, start = 0, end = buf.length) {
    this.pos = start;
    this.end = end;
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  /** Reads a varint as a JS number (exact up to 2^53; int64 negatives come back negative). */
  varint(): number {
    const start = this.pos;
    let result = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (this.pos >= this.end) throw new Error('protobuf: truncated varint');
      const byte = this.buf[this.pos++];
      result |= (byte & 0x7f) << shift;
      if (!(byte & 0x80)) return result;
    }
    this.pos = start;
    return Number(this.varintBig());
  }

  /** Reads a varint exactly, as a signed 64-bit bigint. */
  varintBig(): bigint {
    let result = 0n;
    let shift = 0n;
    let byte: number;
    do {
      if (this.pos >= this.end) throw new Error('protobuf: truncated varint');
      byte = this.buf[this.pos++];
      result |= BigInt(byte & 0x7f) << shift;
      shift += 7n;
    } while (byte & 0x80);
    return BigInt.asIntN(64, result);
  }

  tag(): { field: number; wire: Wire } {
    const t = this.varint();
    return { field: Math.floor(t / 8), wire: (t & 7) as Wire };
  }

  bytes(): Uint8Array {
    const len = this.varint();
    const start = this.pos;
    this.pos += len;
    if (this.pos > this.end) throw new Error('protobuf: truncated length-delimited field');
    return this.buf.subarray(start, this.pos);
  }

  /** A sub-reader over a length-delimited field, without copying. */
  sub(): ProtoReader {
    const len = this.varint();
    const start = this.pos;
    this.pos += len;
    if (this.pos > this.end) throw new Error('protobuf: truncated message');
    return new ProtoReader(this.buf, start, this.pos);
  }

  string(): string {
    return textDecoder.decode(this.bytes());
  }

  float(): number {
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  skip(wire: Wire): void {
    switch (wire) {
      case Wire.Varint: this.varint(); break;
      case Wire.Fixed64: this.pos += 8; break;
      case Wire.Bytes: this.pos += this.varint(); break;
      case Wire.Fixed32: this.pos += 4; break;
      default: throw new Error(`protobuf: unsupported wire type ${wire as number}`);
    }
  }

  /** Repeated int64 field, packed or not. */
  int64s(wire: Wire, into: number[]): void {
    if (wire === Wire.Bytes) {
      const r = this.sub();
      while (!r.done()) into.push(r.varint());
    } else {
      into.push(this.varint());
    }
  }

  floats(wire: Wire, into: number[]): void {
    if (wire === Wire.Bytes) {
      const r = this.sub();
      while (!r.done()) into.push(r.float());
    } else {
      into.push(this.float());
    }
  }
}

const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();

/** Collects chunks so big byte fields are appended by reference; concatenated once at the end. */
export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private scratch = new Uint8Array(256);
  private used = 0;
  length = 0;

  private flushScratch(): void {
    if (this.used > 0) {
      this.chunks.push(this.scratch.slice(0, this.used));
      this.used = 0;
    }
  }

  private ensure(n: number): void {
    if (this.used + n > this.scratch.length) {
      this.flushScratch();
      if (n > this.scratch.length) this.scratch = new Uint8Array(Math.max(n, 256));
    }
  }

  private byte(b: number): void {
    this.scratch[this.used++] = b;
    this.length++;
  }

  varint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    if (typeof value === 'number' && value >= 0 && value < 2 ** 31) {
      this.ensure(5);
      let n = value;
      while (n >= 0x80) {
        this.byte((n & 0x7f) | 0x80);
        n >>>= 7;
      }
      this.byte(n);
      return;
    }
    this.ensure(10);
    while (v >= 0x80n) {
      this.byte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.byte(Number(v));
  }

  tag(field: number, wire: Wire): void {
    this.varint(field * 8 + wire);
  }

  bytesField(field: number, data: Uint8Array): void {
    this.tag(field, Wire.Bytes);
    this.varint(data.length);
    this.raw(data);
  }

  raw(data: Uint8Array): void {
    if (data.length <= 64) {
      this.ensure(data.length);
      this.scratch.set(data, this.used);
      this.used += data.length;
    } else {
      this.flushScratch();
      this.chunks.push(data);
    }
    this.length += data.length;
  }

  stringField(field: number, s: string): void {
    this.bytesField(field, textEncoder.encode(s));
  }

  varintField(field: number, v: number | bigint): void {
    this.tag(field, Wire.Varint);
    this.varint(v);
  }

  floatField(field: number, v: number): void {
    this.tag(field, Wire.Fixed32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.raw(b);
  }

  packedVarints(field: number, values: readonly (number | bigint)[]): void {
    const w = new ProtoWriter();
    for (const v of values) w.varint(v);
    this.messageField(field, w);
  }

  packedFloats(field: number, values: readonly number[]): void {
    const b = new Float32Array(values);
    this.bytesField(field, new Uint8Array(b.buffer));
  }

  messageField(field: number, msg: ProtoWriter): void {
    this.tag(field, Wire.Bytes);
    this.varint(msg.length);
    msg.flushScratch();
    this.flushScratch();
    this.chunks.push(...msg.chunks);
    this.length += msg.length;
  }

  finish(): Uint8Array {
    this.flushScratch();
    if (this.chunks.length === 1) return this.chunks[0];
    const out = new Uint8Array(this.length);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}
