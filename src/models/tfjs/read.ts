/** Reads a TF.js "layers" model: model.json (Keras topology + weightsManifest) and its binary weight shards. */
import fs from 'node:fs';
import path from 'node:path';
import { GraftError, errorMessage } from '../../util/errors.js';

/** A reference to another layer's output: its `tensorIndex`-th output of its `nodeIndex`-th call. */
export interface KerasRef {
  layer: string;
  nodeIndex: number;
  tensorIndex: number;
}

/** One Keras layer. For nested Sequential/Model/Functional layers `model` holds the inner topology. */
export interface KerasLayer {
  className: string;
  name: string;
  config: Record<string, unknown>;
  /** One entry per call of the layer; each lists the call's input tensors. Empty for Sequential members. */
  inboundNodes: KerasRef[][];
  model?: KerasModel;
}

/** A Sequential (chain of layers) or a functional Model with explicit inputs/outputs. */
export interface KerasModel {
  kind: 'sequential' | 'functional';
  className: string;
  name: string;
  layers: KerasLayer[];
  inputs: KerasRef[];
  outputs: KerasRef[];
}

/** A weight tensor in Keras layout, always dequantised to float32. */
export interface KerasWeight {
  shape: number[];
  data: Float32Array;
}

export interface TfjsModel {
  file: string;
  model: KerasModel;
  /** Weights by manifest name (e.g. "conv1/kernel"). */
  weights: Map<string, KerasWeight>;
  /** The weight shard files, in manifest order. */
  weightFiles: string[];
}

interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

interface ManifestGroup {
  paths: string[];
  weights: ManifestEntry[];
}

type Json = Record<string, unknown>;

const NESTED_MODEL_CLASSES = new Set(['Sequential', 'Model', 'Functional']);

/** Parses model.json and loads every weight listed in its manifest. */
export async function readTfjsModel(modelJsonPath: string): Promise<TfjsModel> {
  const json = await readJson(modelJsonPath);
  const model = parseTopology(json, modelJsonPath);
  const groups = manifestOf(json, modelJsonPath);
  const dir = path.dirname(modelJsonPath);
  const weights = new Map<string, KerasWeight>();
  const weightFiles: string[] = [];
  for (const group of groups) {
    const files = group.paths.map((p) => path.join(dir, p));
    weightFiles.push(...files);
    const buffers = await Promise.all(files.map(async (f) => {
      try {
        return await fs.promises.readFile(f);
      } catch (err) {
        throw new GraftError('FILE_NOT_FOUND', `cannot read weight shard ${f} of ${modelJsonPath}: ${errorMessage(err)}`, { cause: err });
      }
    }));
    decodeGroup(group, Buffer.concat(buffers), modelJsonPath, weights);
  }
  return { file: modelJsonPath, model, weights, weightFiles };
}

/** The weight shard paths a model.json lists (relative paths resolved against its folder). */
export async function listWeightFiles(modelJsonPath: string): Promise<string[]> {
  const json = await readJson(modelJsonPath);
  return manifestOf(json, modelJsonPath).flatMap((g) => g.paths.map((p) => path.join(path.dirname(modelJsonPath), p)));
}

async function readJson(file: string): Promise<Json> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (err) {
    throw new GraftError('FILE_NOT_FOUND', `cannot read TF.js model ${file}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    return JSON.parse(text) as Json;
  } catch (err) {
    throw new GraftError('MODEL_FORMAT', `${file} is not valid JSON: ${errorMessage(err)}`, { cause: err });
  }
}

function manifestOf(json: Json, file: string): ManifestGroup[] {
  const groups = json.weightsManifest;
  if (!Array.isArray(groups)) throw new GraftError('MODEL_FORMAT', `${file} has no weightsManifest`);
  return groups as ManifestGroup[];
}

/** The topology, from either `modelTopology.model_config` (Keras exports) or `modelTopology` itself (tfjs saves). */
export function parseTopology(json: Json, file: string): KerasModel {
  const topology = json.modelTopology as Json | undefined;
  if (!topology || typeof topology !== 'object') throw new GraftError('MODEL_FORMAT', `${file} has no modelTopology (is it a graph model? only TF.js layers models are supported)`);
  const config = (topology.model_config ?? topology) as Json;
  return parseModel(config, file);
}

function parseModel(spec: Json, file: string): KerasModel {
  const className = String(spec.class_name);
  const raw = spec.config;
  // Keras < 2.2.3 stored a Sequential's config as the bare layer list.
  const config = (Array.isArray(raw) ? { layers: raw } : raw) as Json | undefined;
  if (!config || !Array.isArray(config.layers)) throw new GraftError('MODEL_FORMAT', `${file}: ${className} config has no layer list`);
  const name = String(config.name ?? spec.name ?? className.toLowerCase());
  const layers = (config.layers as Json[]).map((l) => parseLayer(l, file));
  if (className === 'Sequential') return { kind: 'sequential', className, name, layers, inputs: [], outputs: [] };
  if (className !== 'Model' && className !== 'Functional') throw new GraftError('MODEL_FORMAT', `${file}: top-level class ${className} is not a Sequential or Model`);
  return { kind: 'functional', className, name, layers, inputs: parseRefList(config.input_layers, file), outputs: parseRefList(config.output_layers, file) };
}

function parseLayer(spec: Json, file: string): KerasLayer {
  const className = String(spec.class_name);
  const config = (Array.isArray(spec.config) ? {} : spec.config ?? {}) as Json;
  const inboundNodes = parseInbound(spec.inbound_nodes, file);
  if (NESTED_MODEL_CLASSES.has(className)) {
    const model = parseModel(spec, file);
    return { className, name: String(spec.name ?? model.name), config, inboundNodes, model };
  }
  const name = String(spec.name ?? config.name ?? '');
  if (!name) throw new GraftError('MODEL_FORMAT', `${file}: a ${className} layer has no name`);
  return { className, name, config, inboundNodes };
}

/** Keras 2: [[["layer", node, tensor, {kwargs}], ...], ...]; Keras 3: [{args: [...keras tensors...], kwargs}]. */
function parseInbound(raw: unknown, file: string): KerasRef[][] {
  if (raw == null) return [];
  if (!Array.isArray(raw)) throw new GraftError('MODEL_FORMAT', `${file}: malformed inbound_nodes`);
  return raw.map((node: unknown) => {
    if (Array.isArray(node)) return node.map((r) => toRef(r, file));
    const refs: KerasRef[] = [];
    collectKerasTensors((node as Json).args, refs);
    return refs;
  });
}

function collectKerasTensors(value: unknown, out: KerasRef[]): void {
  if (Array.isArray(value)) {
    for (const v of value) collectKerasTensors(v, out);
    return;
  }
  if (value && typeof value === 'object') {
    const v = value as Json;
    const history = v.class_name === '__keras_tensor__' ? (v.config as Json | undefined)?.keras_history : undefined;
    if (Array.isArray(history)) out.push({ layer: String(history[0]), nodeIndex: Number(history[1]), tensorIndex: Number(history[2]) });
  }
}

/** input_layers/output_layers: a list of [name, node, tensor] or, in Keras 3 with one tensor, that triple alone. */
function parseRefList(raw: unknown, file: string): KerasRef[] {
  if (!Array.isArray(raw)) throw new GraftError('MODEL_FORMAT', `${file}: a functional model needs input_layers and output_layers`);
  if (typeof raw[0] === 'string') return [toRef(raw, file)];
  return raw.map((r) => toRef(r, file));
}

function toRef(raw: unknown, file: string): KerasRef {
  if (!Array.isArray(raw) || typeof raw[0] !== 'string') throw new GraftError('MODEL_FORMAT', `${file}: malformed layer reference ${JSON.stringify(raw)}`);
  return { layer: raw[0], nodeIndex: Number(raw[1] ?? 0), tensorIndex: Number(raw[2] ?? 0) };
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, uint8: 1, uint16: 2, float16: 2 };

function decodeGroup(group: ManifestGroup, bytes: Buffer, file: string, out: Map<string, KerasWeight>): void {
  let offset = 0;
  for (const entry of group.weights) {
    const size = entry.shape.reduce((a, b) => a * b, 1);
    const storedAs = entry.quantization?.dtype ?? entry.dtype;
    const width = BYTES[storedAs];
    if (!width || (entry.dtype !== 'float32' && entry.dtype !== 'int32')) {
      throw new GraftError('MODEL_FORMAT', `${file}: weight ${entry.name} has unsupported dtype ${entry.dtype}${entry.quantization ? ` (quantised as ${storedAs})` : ''}`);
    }
    const end = offset + size * width;
    if (end > bytes.length) throw new GraftError('MODEL_FORMAT', `${file}: weight shards end before weight ${entry.name} (need ${end} bytes, have ${bytes.length})`);
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset, size * width);
    out.set(entry.name, { shape: entry.shape, data: decodeValues(view, size, storedAs, entry) });
    offset = end;
  }
}

function decodeValues(view: DataView, size: number, storedAs: string, entry: ManifestEntry): Float32Array {
  const data = new Float32Array(size);
  const q = entry.quantization;
  if (storedAs === 'uint8' || storedAs === 'uint16') {
    const scale = q?.scale ?? 1;
    const min = q?.min ?? 0;
    for (let i = 0; i < size; i++) data[i] = (storedAs === 'uint8' ? view.getUint8(i) : view.getUint16(i * 2, true)) * scale + min;
  } else if (storedAs === 'float16') {
    for (let i = 0; i < size; i++) data[i] = halfToFloat(view.getUint16(i * 2, true));
  } else if (storedAs === 'int32') {
    for (let i = 0; i < size; i++) data[i] = view.getInt32(i * 4, true);
  } else {
    for (let i = 0; i < size; i++) data[i] = view.getFloat32(i * 4, true);
  }
  return data;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
