/**
 * onnx.proto ⇄ the typed model of types.ts, over onnx-proto (protobufjs code generated from the official
 * onnx.proto). The wire format is the library's; this module only maps its message objects to graft's Model and back.
 * A same-run benchmark (bench/libraries.ts, README "Hand-written vs library") showed the hand-written codec that was
 * here before was slower, so it is kept only as a baseline in bench/baseline/.
 */
import fs from 'node:fs';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { Attribute, DType, Dim, Graph, Model, Node, Tensor, TensorArray, ValueInfo } from './types.js';
import { GraftError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fsutil.js';

const { onnx } = onnxProto;

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

type NumericArray = Exclude<TensorArray, string[]>;
type ArrayCtor = {
  new (n: number): NumericArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): NumericArray;
  BYTES_PER_ELEMENT: number;
};
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

// ---------------------------------------------------------------- 64-bit integers
// protobufjs hands int64 fields back as numbers or, when the `long` package is present, as Long objects
// ({low, high, unsigned}); it accepts the same {low, high} shape when writing. graft keeps int64 attribute
// values and dims as JS numbers and int64 tensor data as bigint.

interface LongBits { low: number; high: number; unsigned?: boolean }
type Int64Field = number | LongBits;

function int64ToBigInt(v: Int64Field): bigint {
  if (typeof v === 'number') return BigInt(v);
  const bits = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  return v.unsigned ? bits : BigInt.asIntN(64, bits);
}

/** Exact up to ±2^53; beyond that the nearest double (INT64_MAX reads as 2^63, as Slice's "to the end" needs). */
function int64ToNumber(v: Int64Field | null | undefined): number {
  if (v == null) return 0;
  return typeof v === 'number' ? v : Number(int64ToBigInt(v));
}

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/** A JS number as an int64 field, saturating (2^63 is not an int64: it becomes INT64_MAX). */
function numberToInt64(v: number): Int64Field {
  if (Number.isSafeInteger(v)) return v;
  let big = Number.isFinite(v) ? BigInt(Math.trunc(v)) : v > 0 ? INT64_MAX : INT64_MIN;
  if (big > INT64_MAX) big = INT64_MAX;
  if (big < INT64_MIN) big = INT64_MIN;
  const bits = BigInt.asUintN(64, big);
  return { low: Number(bits & 0xffffffffn) | 0, high: Number(bits >> 32n) | 0 };
}

// ---------------------------------------------------------------- decode

type TensorProto = InstanceType<typeof onnx.TensorProto>;
type ValueInfoProto = InstanceType<typeof onnx.ValueInfoProto>;
type AttributeProto = InstanceType<typeof onnx.AttributeProto>;
type NodeProto = InstanceType<typeof onnx.NodeProto>;
type GraphProto = InstanceType<typeof onnx.GraphProto>;
/** Decoded dimensions have the `value` oneof getter, which says whether dim_value or dim_param was set. */
type DimensionProto = InstanceType<typeof onnx.TensorShapeProto.Dimension>;
type StringStringEntry = { key?: string | null; value?: string | null };

interface DecodeContext {
  /** Directory of the model file, for tensors stored as external data. */
  baseDir?: string;
}

/**
 * Little-endian bytes as a typed array of the tensor's type: a view on the decoded buffer when its offset is
 * aligned for the element size (no copy of the weights), otherwise an aligned copy.
 */
function fromRaw(dtype: DType, name: string, raw: Uint8Array): NumericArray {
  const ctor = ARRAY_CTORS[dtype];
  if (!ctor) throw new GraftError('MODEL_FORMAT', `raw_data for ${dtype} tensors is not supported`);
  const size = ctor.BYTES_PER_ELEMENT;
  if (raw.length % size !== 0) {
    throw new GraftError('MODEL_FORMAT', `tensor ${name}: ${raw.length} bytes of raw_data is not a whole number of ${dtype} values`);
  }
  const n = raw.length / size;
  if (raw.byteOffset % size === 0) return new ctor(raw.buffer, raw.byteOffset, n);
  const out = new ctor(n);
  new Uint8Array(out.buffer, out.byteOffset, raw.length).set(raw);
  return out;
}

function entriesToRecord(entries: readonly StringStringEntry[] | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries ?? []) out[e.key ?? ''] = e.value ?? '';
  return out;
}

function readExternal(name: string, info: Record<string, string>, ctx: DecodeContext): Uint8Array {
  if (!ctx.baseDir) throw new GraftError('MODEL_FORMAT', `tensor ${name} uses external data but the model was not read from a file`);
  const file = path.resolve(ctx.baseDir, info.location ?? '');
  if (!file.startsWith(path.resolve(ctx.baseDir) + path.sep)) {
    throw new GraftError('MODEL_FORMAT', `tensor ${name}: external data location ${info.location} is outside the model directory`);
  }
  const offset = Number(info.offset ?? 0);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    throw new GraftError('MODEL_FORMAT', `tensor ${name}: cannot read its external data ${info.location}: ${(err as Error).message}`, { cause: err });
  }
  const length = info.length !== undefined ? Number(info.length) : buf.length - offset;
  if (offset + length > buf.length) {
    throw new GraftError('MODEL_FORMAT', `tensor ${name}: external data ${info.location} is shorter than offset ${offset} + length ${length}`);
  }
  return buf.subarray(offset, offset + length);
}

function decodeTensor(t: TensorProto, ctx: DecodeContext): Tensor {
  const name = t.name ?? '';
  const dtype = dtypeFromCode(t.dataType);
  const dims = t.dims.map(int64ToNumber);
  let raw = t.rawData && t.rawData.length ? t.rawData : undefined;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) raw = readExternal(name, entriesToRecord(t.externalData), ctx);
  let data: TensorArray;
  if (raw) data = fromRaw(dtype, name, raw);
  else if (dtype === 'string') data = t.stringData.map((s) => new TextDecoder().decode(s));
  else if (dtype === 'float32') data = Float32Array.from(t.floatData);
  else if (dtype === 'float64') data = Float64Array.from(t.doubleData);
  else if (dtype === 'int64') data = BigInt64Array.from(t.int64Data, (v) => int64ToBigInt(v));
  else if (dtype === 'uint64') data = BigUint64Array.from(t.uint64Data, (v) => BigInt.asUintN(64, int64ToBigInt(v)));
  else if (dtype === 'uint32') data = Uint32Array.from(t.uint64Data, (v) => int64ToNumber(v));
  else {
    // int32_data carries int32, int16, int8, uint16, uint8, bool and float16 (as its bits).
    const arr = allocTensorData(dtype, t.int32Data.length) as Exclude<NumericArray, BigInt64Array | BigUint64Array>;
    for (let i = 0; i < t.int32Data.length; i++) arr[i] = t.int32Data[i];
    data = arr;
  }
  return { name, dtype, dims, data };
}

function decodeValueInfo(v: ValueInfoProto): ValueInfo {
  const tensorType = v.type?.tensorType;
  // Sequence, map and optional values carry no tensor type: graft reads them as float32 of unknown rank.
  const dtype = tensorType?.elemType ? dtypeFromCode(tensorType.elemType) : 'float32';
  const shape: Dim[] | undefined = tensorType?.shape
    ? ((tensorType.shape.dim ?? []) as DimensionProto[]).map((d) => (d.value === 'dimParam' ? d.dimParam! : d.value === 'dimValue' ? int64ToNumber(d.dimValue) : null))
    : undefined;
  const out: ValueInfo = { name: v.name ?? '', dtype, shape };
  if (v.docString) out.docString = v.docString;
  return out;
}

function decodeAttribute(a: AttributeProto, ctx: DecodeContext): Attribute | undefined {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case T.FLOAT: return { type: 'float', value: a.f };
    case T.INT: return { type: 'int', value: int64ToNumber(a.i) };
    case T.STRING: return { type: 'string', value: new TextDecoder().decode(a.s) };
    case T.TENSOR: return { type: 'tensor', value: decodeTensor(a.t as TensorProto, ctx) };
    case T.GRAPH: return { type: 'graph', value: decodeGraph(a.g as GraphProto, ctx) };
    case T.FLOATS: return { type: 'floats', value: [...a.floats] };
    case T.INTS: return { type: 'ints', value: a.ints.map(int64ToNumber) };
    case T.STRINGS: return { type: 'strings', value: a.strings.map((s) => new TextDecoder().decode(s)) };
    // Sparse tensors, type protos and lists of tensors or graphs: no graft model uses them, and graft's
    // Attribute type has no room for them.
    default: return undefined;
  }
}

function decodeNode(n: NodeProto, ctx: DecodeContext): Node {
  const node: Node = { name: n.name ?? '', opType: n.opType ?? '', inputs: [...n.input], outputs: [...n.output], attributes: {} };
  if (n.domain) node.domain = n.domain;
  if (n.docString) node.docString = n.docString;
  for (const a of n.attribute) {
    const value = decodeAttribute(a as AttributeProto, ctx);
    if (value) node.attributes[a.name ?? ''] = value;
  }
  return node;
}

function decodeGraph(g: GraphProto, ctx: DecodeContext): Graph {
  const graph: Graph = {
    name: g.name ?? '',
    nodes: g.node.map((n) => decodeNode(n as NodeProto, ctx)),
    initializers: new Map(),
    inputs: [],
    outputs: g.output.map((v) => decodeValueInfo(v as ValueInfoProto)),
    valueInfo: g.valueInfo.map((v) => decodeValueInfo(v as ValueInfoProto)),
  };
  if (g.docString) graph.docString = g.docString;
  for (const t of g.initializer) {
    const tensor = decodeTensor(t as TensorProto, ctx);
    graph.initializers.set(tensor.name, tensor);
  }
  // Since IR 4 initializers need not be listed as inputs; graft keeps `inputs` for real (fed) inputs only.
  graph.inputs = g.input.map((v) => decodeValueInfo(v as ValueInfoProto)).filter((vi) => !graph.initializers.has(vi.name));
  return graph;
}

/**
 * Parses ONNX model bytes. `baseDir` locates external-data files. Initializers whose raw bytes are aligned are
 * views on `bytes` (no copy): writing into the model's tensors writes into `bytes`.
 */
export function decodeModel(bytes: Uint8Array, baseDir?: string): Model {
  const ctx: DecodeContext = { baseDir };
  let proto: InstanceType<typeof onnx.ModelProto>;
  try {
    proto = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new GraftError('MODEL_FORMAT', `not a valid ONNX model (${(err as Error).message})`, { cause: err });
  }
  if (!proto.graph) throw new GraftError('MODEL_FORMAT', 'not a valid ONNX model: it has no graph');
  let graph: Graph;
  try {
    graph = decodeGraph(proto.graph as GraphProto, ctx);
  } catch (err) {
    if (err instanceof GraftError) throw err;
    throw new GraftError('MODEL_FORMAT', `not a valid ONNX model (${(err as Error).message})`, { cause: err });
  }
  const model: Model = {
    irVersion: int64ToNumber(proto.irVersion),
    opsetImports: proto.opsetImport.map((o) => ({ domain: o.domain ?? '', version: int64ToNumber(o.version) })),
    producerName: proto.producerName ?? '',
    producerVersion: proto.producerVersion ?? '',
    graph,
    metadata: entriesToRecord(proto.metadataProps),
  };
  if (proto.docString) model.docString = proto.docString;
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
// Plain objects in onnx-proto's I*Proto shapes; protobufjs writes only the fields that are set.

/** Every numeric tensor goes out as raw_data (one copy of its bytes into the output), strings as string_data. */
function encodeTensor(t: Tensor): onnxProto.onnx.ITensorProto {
  const out: onnxProto.onnx.ITensorProto = { dims: t.dims.map(numberToInt64) as number[], dataType: dtypeCode(t.dtype), name: t.name };
  if (t.dtype === 'string') out.stringData = (t.data as string[]).map((s) => new TextEncoder().encode(s));
  else {
    const data = t.data as NumericArray;
    out.rawData = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  return out;
}

function encodeValueInfo(v: ValueInfo): onnxProto.onnx.IValueInfoProto {
  const shape = v.shape
    ? { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: numberToInt64(d) as number } : typeof d === 'string' ? { dimParam: d } : {})) }
    : undefined;
  const out: onnxProto.onnx.IValueInfoProto = { name: v.name, type: { tensorType: { elemType: dtypeCode(v.dtype), shape } } };
  if (v.docString) out.docString = v.docString;
  return out;
}

function encodeAttribute(name: string, a: Attribute): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case 'float': return { name, type: T.FLOAT, f: a.value };
    case 'int': return { name, type: T.INT, i: numberToInt64(a.value) as number };
    case 'string': return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
    case 'tensor': return { name, type: T.TENSOR, t: encodeTensor(a.value) };
    case 'graph': return { name, type: T.GRAPH, g: encodeGraph(a.value) };
    case 'floats': return { name, type: T.FLOATS, floats: a.value };
    case 'ints': return { name, type: T.INTS, ints: a.value.map(numberToInt64) as number[] };
    case 'strings': return { name, type: T.STRINGS, strings: a.value.map((s) => new TextEncoder().encode(s)) };
  }
}

function encodeNode(n: Node): onnxProto.onnx.INodeProto {
  const out: onnxProto.onnx.INodeProto = {
    input: n.inputs,
    output: n.outputs,
    opType: n.opType,
    attribute: Object.entries(n.attributes).map(([k, a]) => encodeAttribute(k, a)),
  };
  if (n.name) out.name = n.name;
  if (n.domain) out.domain = n.domain;
  if (n.docString) out.docString = n.docString;
  return out;
}

function encodeGraph(g: Graph): onnxProto.onnx.IGraphProto {
  const out: onnxProto.onnx.IGraphProto = {
    node: g.nodes.map(encodeNode),
    name: g.name || 'graph',
    initializer: [...g.initializers.values()].map(encodeTensor),
    input: g.inputs.map(encodeValueInfo),
    output: g.outputs.map(encodeValueInfo),
    valueInfo: g.valueInfo.map(encodeValueInfo),
  };
  if (g.docString) out.docString = g.docString;
  return out;
}

export function encodeModel(m: Model): Uint8Array {
  const proto: onnxProto.onnx.IModelProto = {
    irVersion: m.irVersion,
    producerName: m.producerName,
    producerVersion: m.producerVersion,
    graph: encodeGraph(m.graph),
    opsetImport: m.opsetImports.map((o) => (o.domain ? { domain: o.domain, version: o.version } : { version: o.version })),
    metadataProps: Object.entries(m.metadata).map(([key, value]) => ({ key, value })),
  };
  if (m.docString) proto.docString = m.docString;
  return onnx.ModelProto.encode(proto).finish();
}

/** Writes the model atomically (temp file + fsync + rename). */
export async function writeModel(m: Model, file: string): Promise<void> {
  await writeFileAtomic(file, encodeModel(m));
}
