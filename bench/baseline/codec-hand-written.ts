/**
 * BENCHMARK BASELINE ONLY: the hand-written onnx.proto codec that src/onnx/codec.ts used before onnx-proto
 * (protobufjs), kept so bench/libraries.ts can compare both in the same run. Not imported by src/.
 *
 * onnx.proto ⇄ the typed model of types.ts. Field numbers follow onnx/onnx.proto (IR version 8–10).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ProtoReader, ProtoWriter, Wire } from './protobuf-hand-written.js';
import type { Attribute, DType, Dim, Graph, Model, Node, OpsetId, Tensor, TensorArray, ValueInfo } from '../../src/onnx/types.js';
import { GraftError } from '../../src/util/errors.js';
import { writeFileAtomic } from '../../src/util/fsutil.js';

const DTYPE_CODES: Record<DType, number> = {
  float32: 1, uint8: 2, int8: 3, uint16: 4, int16: 5, int32: 6, int64: 7, string: 8,
  bool: 9, float16: 10, float64: 11, uint32: 12, uint64: 13,
};
const CODE_DTYPES = new Map<number, DType>(Object.entries(DTYPE_CODES).map(([k, v]) => [v, k as DType]));

export function dtypeFromCode(code: number): DType {
  const d = CODE_DTYPES.get(code);
  if (!d) throw new GraftError('MODEL_FORMAT', `unsupported ONNX tensor data type ${code}`);
  return d;
}
export function dtypeCode(d: DType): number {
  return DTYPE_CODES[d];
}

type ArrayCtor = { new (n: number): TensorArray; BYTES_PER_ELEMENT: number };
const ARRAY_CTORS: Partial<Record<DType, ArrayCtor>> = {
  float32: Float32Array as unknown as ArrayCtor, float64: Float64Array as unknown as ArrayCtor,
  int8: Int8Array as unknown as ArrayCtor, uint8: Uint8Array as unknown as ArrayCtor,
  int16: Int16Array as unknown as ArrayCtor, uint16: Uint16Array as unknown as ArrayCtor,
  int32: Int32Array as unknown as ArrayCtor, uint32: Uint32Array as unknown as ArrayCtor,
  int64: BigInt64Array as unknown as ArrayCtor, uint64: BigUint64Array as unknown as ArrayCtor,
  bool: Uint8Array as unknown as ArrayCtor, float16: Uint16Array as unknown as ArrayCtor,
};

export function allocTensorData(dtype: DType, n: number): TensorArray {
  if (dtype === 'string') return new Array<string>(n).fill('');
  return new ARRAY_CTORS[dtype]!(n);
}

/** Copies little-endian bytes into a fresh (aligned) typed array of the tensor's type. */
function fromRaw(dtype: DType, raw: Uint8Array): TensorArray {
  const ctor = ARRAY_CTORS[dtype];
  if (!ctor) throw new GraftError('MODEL_FORMAT', `raw_data for ${dtype} tensors is not supported`);
  const n = raw.length / ctor.BYTES_PER_ELEMENT;
  const out = new ctor(n) as Exclude<TensorArray, string[]>;
  new Uint8Array(out.buffer, out.byteOffset, raw.length).set(raw);
  return out;
}

function rawBytes(data: Exclude<TensorArray, string[]>): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

// ---------------------------------------------------------------- decode

interface DecodeContext {
  /** Directory of the model file, for tensors stored as external data. */
  baseDir?: string;
}

function decodeTensor(r: ProtoReader, ctx: DecodeContext): Tensor {
  const dims: number[] = [];
  let dtypeCode = 0;
  let name = '';
  let raw: Uint8Array | undefined;
  const floats: number[] = [];
  const ints: number[] = [];
  const int64s: bigint[] = [];
  const doubles: number[] = [];
  const strings: string[] = [];
  const external: Record<string, string> = {};
  let dataLocation = 0;
  while (!r.done()) {
    const { field, wire } = r.tag();
    switch (field) {
      case 1: r.int64s(wire, dims); break;
      case 2: dtypeCode = r.varint(); break;
      case 4: r.floats(wire, floats); break;
      case 5: r.int64s(wire, ints); break;
      case 6: strings.push(r.string()); break;
      case 7:
        if (wire === Wire.Bytes) {
          const s = r.sub();
          while (!s.done()) int64s.push(s.varintBig());
        } else int64s.push(r.varintBig());
        break;
      case 8: name = r.string(); break;
      case 9: raw = r.bytes(); break;
      case 10:
        if (wire === Wire.Bytes) {
          const b = r.bytes();
          const dv = new DataView(b.buffer, b.byteOffset, b.length);
          for (let i = 0; i < b.length; i += 8) doubles.push(dv.getFloat64(i, true));
        } else {
          doubles.push(new DataView(r.buf.buffer, r.buf.byteOffset + r.pos, 8).getFloat64(0, true));
          r.pos += 8;
        }
        break;
      case 13: {
        const [key, value] = decodeStringPair(r.sub());
        external[key] = value;
        break;
      }
      case 14: dataLocation = r.varint(); break;
      default: r.skip(wire);
    }
  }
  const dtype = dtypeFromCode(dtypeCode);
  let data: TensorArray;
  if (dataLocation === 1) {
    raw = readExternal(name, external, ctx);
  }
  if (raw) data = fromRaw(dtype, raw);
  else if (dtype === 'float32') data = Float32Array.from(floats);
  else if (dtype === 'float64') data = Float64Array.from(doubles);
  else if (dtype === 'int64') data = BigInt64Array.from(int64s);
  else if (dtype === 'uint64') data = BigUint64Array.from(int64s.map((v) => BigInt.asUintN(64, v)));
  else if (dtype === 'string') data = strings;
  else {
    // int32_data carries int32, int16, int8, uint16, uint8, bool and float16 (as bits).
    const arr = allocTensorData(dtype, ints.length) as Exclude<TensorArray, string[] | BigInt64Array | BigUint64Array>;
    for (let i = 0; i < ints.length; i++) arr[i] = ints[i];
    data = arr;
  }
  return { name, dtype, dims, data };
}

/** StringStringEntryProto: key = 1, value = 2. */
function decodeStringPair(e: ProtoReader): [string, string] {
  let key = '';
  let value = '';
  while (!e.done()) {
    const t = e.tag();
    if (t.field === 1) key = e.string();
    else if (t.field === 2) value = e.string();
    else e.skip(t.wire);
  }
  return [key, value];
}

function readExternal(name: string, info: Record<string, string>, ctx: DecodeContext): Uint8Array {
  if (!ctx.baseDir) throw new GraftError('MODEL_FORMAT', `tensor ${name} uses external data but the model was not read from a file`);
  const file = path.resolve(ctx.baseDir, info.location ?? '');
  if (!file.startsWith(path.resolve(ctx.baseDir) + path.sep)) {
    throw new GraftError('MODEL_FORMAT', `tensor ${name}: external data location ${info.location} is outside the model directory`);
  }
  const offset = Number(info.offset ?? 0);
  const buf = fs.readFileSync(file);
  const length = info.length !== undefined ? Number(info.length) : buf.length - offset;
  return buf.subarray(offset, offset + length);
}

function decodeValueInfo(r: ProtoReader): ValueInfo {
  let name = '';
  let dtype: DType = 'float32';
  let shape: Dim[] | undefined;
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field === 1) name = r.string();
    else if (field === 2) {
      const tr = r.sub();
      while (!tr.done()) {
        const t = tr.tag();
        if (t.field !== 1) { tr.skip(t.wire); continue; }
        const tt = tr.sub();
        while (!tt.done()) {
          const u = tt.tag();
          if (u.field === 1) dtype = dtypeFromCode(tt.varint());
          else if (u.field === 2) {
            shape = [];
            const sr = tt.sub();
            while (!sr.done()) {
              const s = sr.tag();
              if (s.field !== 1) { sr.skip(s.wire); continue; }
              const dr = sr.sub();
              let dim: Dim = null;
              while (!dr.done()) {
                const d = dr.tag();
                if (d.field === 1) dim = dr.varint();
                else if (d.field === 2) dim = dr.string();
                else dr.skip(d.wire);
              }
              shape.push(dim);
            }
          } else tt.skip(u.wire);
        }
      }
    } else r.skip(wire);
  }
  return { name, dtype, shape };
}

function decodeAttribute(r: ProtoReader, ctx: DecodeContext): [string, Attribute | undefined] {
  let name = '';
  let type = 0;
  let f = 0;
  let i = 0;
  let s: Uint8Array | undefined;
  let t: Tensor | undefined;
  let g: Graph | undefined;
  const floats: number[] = [];
  const ints: number[] = [];
  const strings: string[] = [];
  while (!r.done()) {
    const { field, wire } = r.tag();
    switch (field) {
      case 1: name = r.string(); break;
      case 20: type = r.varint(); break;
      case 2: f = r.float(); break;
      case 3: i = r.varint(); break;
      case 4: s = r.bytes(); break;
      case 5: t = decodeTensor(r.sub(), ctx); break;
      case 6: g = decodeGraph(r.sub(), ctx); break;
      case 7: r.floats(wire, floats); break;
      case 8: r.int64s(wire, ints); break;
      case 9: strings.push(r.string()); break;
      default: r.skip(wire);
    }
  }
  const text = (b?: Uint8Array) => (b ? new TextDecoder().decode(b) : '');
  switch (type) {
    case 1: return [name, { type: 'float', value: f }];
    case 2: return [name, { type: 'int', value: i }];
    case 3: return [name, { type: 'string', value: text(s) }];
    case 4: return [name, { type: 'tensor', value: t! }];
    case 5: return [name, { type: 'graph', value: g! }];
    case 6: return [name, { type: 'floats', value: floats }];
    case 7: return [name, { type: 'ints', value: ints }];
    case 8: return [name, { type: 'strings', value: strings }];
    default: return [name, undefined];
  }
}

function decodeNode(r: ProtoReader, ctx: DecodeContext): Node {
  const node: Node = { name: '', opType: '', inputs: [], outputs: [], attributes: {} };
  while (!r.done()) {
    const { field, wire } = r.tag();
    switch (field) {
      case 1: node.inputs.push(r.string()); break;
      case 2: node.outputs.push(r.string()); break;
      case 3: node.name = r.string(); break;
      case 4: node.opType = r.string(); break;
      case 7: node.domain = r.string(); break;
      case 5: {
        const [k, v] = decodeAttribute(r.sub(), ctx);
        if (v) node.attributes[k] = v;
        break;
      }
      default: r.skip(wire);
    }
  }
  return node;
}

function decodeGraph(r: ProtoReader, ctx: DecodeContext): Graph {
  const g: Graph = { name: '', nodes: [], initializers: new Map(), inputs: [], outputs: [], valueInfo: [] };
  while (!r.done()) {
    const { field, wire } = r.tag();
    switch (field) {
      case 1: g.nodes.push(decodeNode(r.sub(), ctx)); break;
      case 2: g.name = r.string(); break;
      case 5: {
        const t = decodeTensor(r.sub(), ctx);
        g.initializers.set(t.name, t);
        break;
      }
      case 11: g.inputs.push(decodeValueInfo(r.sub())); break;
      case 12: g.outputs.push(decodeValueInfo(r.sub())); break;
      case 13: g.valueInfo.push(decodeValueInfo(r.sub())); break;
      default: r.skip(wire);
    }
  }
  // Since IR 4 initializers need not be listed as inputs; graft keeps `inputs` for real (fed) inputs only.
  g.inputs = g.inputs.filter((vi) => !g.initializers.has(vi.name));
  return g;
}

/** Parses ONNX model bytes. `baseDir` locates external-data files. */
export function decodeModel(bytes: Uint8Array, baseDir?: string): Model {
  const ctx: DecodeContext = { baseDir };
  const r = new ProtoReader(bytes);
  const model: Model = { irVersion: 0, opsetImports: [], producerName: '', producerVersion: '', graph: undefined as unknown as Graph, metadata: {} };
  try {
    while (!r.done()) {
      const { field, wire } = r.tag();
      switch (field) {
        case 1: model.irVersion = r.varint(); break;
        case 2: model.producerName = r.string(); break;
        case 3: model.producerVersion = r.string(); break;
        case 7: model.graph = decodeGraph(r.sub(), ctx); break;
        case 8: {
          const o = r.sub();
          const id: OpsetId = { domain: '', version: 0 };
          while (!o.done()) {
            const t = o.tag();
            if (t.field === 1) id.domain = o.string();
            else if (t.field === 2) id.version = o.varint();
            else o.skip(t.wire);
          }
          model.opsetImports.push(id);
          break;
        }
        case 14: {
          const [key, value] = decodeStringPair(r.sub());
          model.metadata[key] = value;
          break;
        }
        default: r.skip(wire);
      }
    }
  } catch (err) {
    if (err instanceof GraftError) throw err;
    throw new GraftError('MODEL_FORMAT', `not a valid ONNX model (${(err as Error).message})`, { cause: err });
  }
  if (!model.graph) throw new GraftError('MODEL_FORMAT', 'not a valid ONNX model: it has no graph');
  return model;
}

export function readModel(file: string): Model {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw new GraftError('FILE_NOT_FOUND', `cannot read ONNX model ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return decodeModel(bytes, path.dirname(file));
  } catch (err) {
    if (err instanceof GraftError) throw new GraftError(err.code, `${file}: ${err.message}`, { cause: err });
    throw err;
  }
}

// ---------------------------------------------------------------- encode

function encodeTensor(t: Tensor): ProtoWriter {
  const w = new ProtoWriter();
  if (t.dims.length) w.packedVarints(1, t.dims);
  w.varintField(2, dtypeCode(t.dtype));
  if (t.name) w.stringField(8, t.name);
  if (t.dtype === 'string') {
    for (const s of t.data as string[]) w.stringField(6, s);
  } else {
    w.bytesField(9, rawBytes(t.data as Exclude<TensorArray, string[]>));
  }
  return w;
}

function encodeValueInfo(v: ValueInfo): ProtoWriter {
  const tensorType = new ProtoWriter();
  tensorType.varintField(1, dtypeCode(v.dtype));
  if (v.shape) {
    const shape = new ProtoWriter();
    for (const d of v.shape) {
      const dim = new ProtoWriter();
      if (typeof d === 'number') dim.varintField(1, d);
      else if (typeof d === 'string') dim.stringField(2, d);
      shape.messageField(1, dim);
    }
    tensorType.messageField(2, shape);
  }
  const type = new ProtoWriter();
  type.messageField(1, tensorType);
  const w = new ProtoWriter();
  w.stringField(1, v.name);
  w.messageField(2, type);
  return w;
}

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;
function clampInt64(v: number): bigint | number {
  if (Number.isSafeInteger(v)) return v;
  if (v >= 9.2e18) return INT64_MAX;
  if (v <= -9.2e18) return INT64_MIN;
  return BigInt(Math.trunc(v));
}

function encodeAttribute(name: string, a: Attribute): ProtoWriter {
  const w = new ProtoWriter();
  w.stringField(1, name);
  switch (a.type) {
    case 'float': w.floatField(2, a.value); w.varintField(20, 1); break;
    case 'int': w.varintField(3, clampInt64(a.value)); w.varintField(20, 2); break;
    case 'string': w.stringField(4, a.value); w.varintField(20, 3); break;
    case 'tensor': w.messageField(5, encodeTensor(a.value)); w.varintField(20, 4); break;
    case 'graph': w.messageField(6, encodeGraph(a.value)); w.varintField(20, 5); break;
    case 'floats': w.packedFloats(7, a.value); w.varintField(20, 6); break;
    case 'ints': w.packedVarints(8, a.value.map(clampInt64)); w.varintField(20, 7); break;
    case 'strings': for (const s of a.value) w.stringField(9, s); w.varintField(20, 8); break;
  }
  return w;
}

function encodeNode(n: Node): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.stringField(1, i);
  for (const o of n.outputs) w.stringField(2, o);
  if (n.name) w.stringField(3, n.name);
  w.stringField(4, n.opType);
  for (const [k, a] of Object.entries(n.attributes)) w.messageField(5, encodeAttribute(k, a));
  if (n.domain) w.stringField(7, n.domain);
  return w;
}

function encodeGraph(g: Graph): ProtoWriter {
  const w = new ProtoWriter();
  for (const n of g.nodes) w.messageField(1, encodeNode(n));
  w.stringField(2, g.name || 'graph');
  for (const t of g.initializers.values()) w.messageField(5, encodeTensor(t));
  for (const v of g.inputs) w.messageField(11, encodeValueInfo(v));
  for (const v of g.outputs) w.messageField(12, encodeValueInfo(v));
  for (const v of g.valueInfo) w.messageField(13, encodeValueInfo(v));
  return w;
}

export function encodeModel(m: Model): Uint8Array {
  const w = new ProtoWriter();
  w.varintField(1, m.irVersion);
  w.stringField(2, m.producerName);
  w.stringField(3, m.producerVersion);
  w.messageField(7, encodeGraph(m.graph));
  for (const o of m.opsetImports) {
    const ow = new ProtoWriter();
    if (o.domain) ow.stringField(1, o.domain);
    ow.varintField(2, o.version);
    w.messageField(8, ow);
  }
  for (const [k, v] of Object.entries(m.metadata)) {
    const e = new ProtoWriter();
    e.stringField(1, k);
    e.stringField(2, v);
    w.messageField(14, e);
  }
  return w.finish();
}

/** Writes the model atomically (temp file + fsync + rename). */
export async function writeModel(m: Model, file: string): Promise<void> {
  await writeFileAtomic(file, encodeModel(m));
}
