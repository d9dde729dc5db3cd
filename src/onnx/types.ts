/** The typed in-memory form of an ONNX model. Plain data: every transformation is a function over it. */

export type DType =
  | 'float32' | 'uint8' | 'int8' | 'uint16' | 'int16' | 'int32' | 'int64'
  | 'string' | 'bool' | 'float16' | 'float64' | 'uint32' | 'uint64';

export type TensorArray =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array | string[];

/** An initializer or constant: dims + a typed array (float16 kept as raw Uint16Array bits). */
export interface Tensor {
  name: string;
  dtype: DType;
  dims: number[];
  data: TensorArray;
}

/** A dimension: a number, a symbolic name ("N"), or unknown (null). */
export type Dim = number | string | null;

export interface ValueInfo {
  name: string;
  dtype: DType;
  /** undefined when the rank is unknown. */
  shape?: Dim[];
  docString?: string;
}

export type Attribute =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: Tensor }
  | { type: 'graph'; value: Graph }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'strings'; value: string[] };

export interface Node {
  name: string;
  opType: string;
  domain?: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, Attribute>;
  docString?: string;
}

export interface Graph {
  name: string;
  nodes: Node[];
  initializers: Map<string, Tensor>;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  valueInfo: ValueInfo[];
  docString?: string;
}

export interface OpsetId {
  domain: string;
  version: number;
}

export interface Model {
  irVersion: number;
  opsetImports: OpsetId[];
  producerName: string;
  producerVersion: string;
  graph: Graph;
  /** metadata_props: key → value (graft stores labels, preprocessing and provenance here). */
  metadata: Record<string, string>;
  docString?: string;
}

/** Attribute constructors, so graph-building code states each attribute's ONNX type. */
export const attr = {
  f: (value: number): Attribute => ({ type: 'float', value }),
  i: (value: number): Attribute => ({ type: 'int', value }),
  s: (value: string): Attribute => ({ type: 'string', value }),
  t: (value: Tensor): Attribute => ({ type: 'tensor', value }),
  floats: (value: number[]): Attribute => ({ type: 'floats', value }),
  ints: (value: number[]): Attribute => ({ type: 'ints', value }),
  strings: (value: string[]): Attribute => ({ type: 'strings', value }),
};

/** Attribute getters, the reading side of `attr`: the node's value, or the ONNX default `d` when it is absent. */
export const intAttr = (n: Node, k: string, d: number): number => (n.attributes[k] as Extract<Attribute, { type: 'int' }> | undefined)?.value ?? d;
export const floatAttr = (n: Node, k: string, d: number): number => (n.attributes[k] as Extract<Attribute, { type: 'float' }> | undefined)?.value ?? d;
export const intsAttr = (n: Node, k: string): number[] | undefined => (n.attributes[k] as Extract<Attribute, { type: 'ints' }> | undefined)?.value;
export const stringAttr = (n: Node, k: string, d: string): string => (n.attributes[k] as Extract<Attribute, { type: 'string' }> | undefined)?.value ?? d;

export function emptyGraph(name = 'graph'): Graph {
  return { name, nodes: [], initializers: new Map(), inputs: [], outputs: [], valueInfo: [] };
}

export const DEFAULT_OPSET = 17;

export function newModel(graph: Graph, opset = DEFAULT_OPSET, metadata: Record<string, string> = {}): Model {
  return {
    irVersion: 8,
    opsetImports: [{ domain: '', version: opset }],
    producerName: 'graft',
    producerVersion: '0.1.0',
    graph,
    metadata,
  };
}

/** The default-domain opset version of a model. */
export function opsetOf(model: Model): number {
  return model.opsetImports.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? DEFAULT_OPSET;
}

export function tensorSize(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function floatTensor(name: string, dims: number[], data?: Float32Array | number[]): Tensor {
  const arr = data instanceof Float32Array ? data : data ? Float32Array.from(data) : new Float32Array(tensorSize(dims));
  return { name, dtype: 'float32', dims, data: arr };
}

export function int64Tensor(name: string, dims: number[], values: readonly number[]): Tensor {
  return { name, dtype: 'int64', dims, data: BigInt64Array.from(values.map((v) => BigInt(v))) };
}

/** Reads an integer tensor's values as JS numbers (int64 values beyond ±2^53 lose precision, as for Slice's INT64_MAX "to the end"). */
export function tensorInts(t: Tensor): number[] {
  const out: number[] = [];
  const data = t.data as ArrayLike<number | bigint>;
  for (let i = 0; i < data.length; i++) out.push(Number(data[i]));
  return out;
}
