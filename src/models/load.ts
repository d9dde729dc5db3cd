/**
 * Turns what the user names (registry name, ONNX file, TF.js folder/model.json, architecture with
 * --random-weights) into a GraftModel: an ONNX graph plus what it means.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Model } from '../onnx/types.js';
import { readModel } from '../onnx/codec.js';
import { GraphBuilder, resolveTensor } from '../onnx/graph.js';
import { producers, topoSort } from '../onnx/order.js';
import { attr } from '../onnx/types.js';
import { inferShapes } from '../onnx/shapes.js';
import { PREPROCESS_TF, PREPROCESS_TORCH, type Preprocess } from '../image/preprocess.js';
import { GraftError } from '../util/errors.js';
import { cacheDir, modelDirs } from '../util/paths.js';
import { sha256, sha256File } from '../util/fsutil.js';
import { download, ensureFile } from '../util/download.js';
import type { ProgressSink } from '../util/progress.js';
import { DEFAULT_MODEL, REGISTRY, findEntry, type RegistryEntry } from './registry.js';
import { loadTfjsAsOnnx } from './tfjs/cache.js';
import { ARCHITECTURES, buildArchitecture } from './builders/index.js';
import { imagenetLabels } from './labels.js';
import { floatView } from './quantized.js';
import { symbolicBatch } from './batch.js';

export interface GraftModel {
  /** Registry name, or the path the model came from. */
  id: string;
  /** Where the weights came from: a file path, or `random:<arch>:<seed>`. */
  source: string;
  model: Model;
  inputName: string;
  outputName: string;
  /** Whether outputName holds logits or softmax probabilities. */
  output: 'logits' | 'probabilities';
  preprocess: Preprocess;
  /** Label of each output index (already remapped for models with their own class order). */
  labels: string[];
  /** Friendly tap names → tensor names: `features` (pooled vector), `lastConv` (for Grad-CAM), plus every layer. */
  taps: Record<string, string>;
  /** Content hash of the weights/graph, for caches. */
  hash: string;
  /** The entry it was resolved from, if any. */
  entry?: RegistryEntry;
}

export interface LoadOptions {
  randomWeights?: boolean;
  seed?: number;
  /** With randomWeights: the square input side to build the architecture at (default its own, 224 for most). */
  inputSize?: number;
  progress?: ProgressSink;
  log?: (line: string) => void;
}

/** Loads a model by registry name, ONNX path, TF.js folder / model.json, or architecture name (with randomWeights). */
export async function loadModel(spec: string = DEFAULT_MODEL, opts: LoadOptions = {}): Promise<GraftModel> {
  const entry = findEntry(spec);
  if (opts.randomWeights) return randomModel(spec, entry, opts.seed ?? 0, opts.inputSize);
  if (entry) return loadEntry(entry, opts);
  if (fs.existsSync(spec)) return loadPath(spec);
  if (Object.hasOwn(ARCHITECTURES, spec)) {
    throw new GraftError('MODEL_NOT_FOUND', `"${spec}" is an architecture without pretrained weights here; add --random-weights to build it with random weights`);
  }
  throw new GraftError(
    'MODEL_NOT_FOUND',
    `unknown model "${spec}": not a registry name (${REGISTRY.map((e) => e.name).join(', ')}), nor an existing .onnx file or TF.js model folder`,
  );
}

function randomModel(spec: string, entry: RegistryEntry | undefined, seed: number, inputSize?: number): GraftModel {
  const arch = entry?.buildable ?? spec;
  if (!Object.hasOwn(ARCHITECTURES, arch)) {
    throw new GraftError('BAD_ARGUMENT', `--random-weights: "${spec}" has no buildable architecture; buildable: ${Object.keys(ARCHITECTURES).join(', ')}`);
  }
  const built = buildArchitecture(arch, { seed, inputSize });
  const size = built.inputShape[2];
  const taps: Record<string, string> = { ...built.taps, features: built.featureTap, lastConv: built.lastConvTap };
  return {
    id: spec,
    source: `random:${arch}:${seed}`,
    model: built.model,
    inputName: built.inputName,
    outputName: built.outputName,
    output: 'logits',
    preprocess: size === PREPROCESS_TORCH.size[0] ? PREPROCESS_TORCH : { ...PREPROCESS_TORCH, size: [size, size], resizeTo: undefined },
    labels: arch === 'scratch_cnn' ? Array.from({ length: 1000 }, (_, i) => `class ${i}`) : imagenetLabelsOrIndices(),
    taps,
    hash: sha256(`random:${arch}:${seed}${inputSize ? `:${size}` : ''}`),
    entry,
  };
}

function imagenetLabelsOrIndices(): string[] {
  try {
    return imagenetLabels();
  } catch {
    return Array.from({ length: 1000 }, (_, i) => `class ${i}`);
  }
}

/** Where a registry entry's file would be found (without downloading). */
export function locateEntry(entry: RegistryEntry): string | undefined {
  for (const dir of [...modelDirs(), cacheDir('models')]) {
    const f = path.join(dir, entry.file);
    if (fs.existsSync(f)) return f;
  }
  return undefined;
}

async function loadEntry(entry: RegistryEntry, opts: LoadOptions): Promise<GraftModel> {
  const file = locateEntry(entry) ?? (await fetchEntry(entry, opts));
  const loaded = await loadPath(file, entry);
  return { ...loaded, id: entry.name, entry };
}

async function fetchEntry(entry: RegistryEntry, opts: LoadOptions): Promise<string> {
  const searchDirs = modelDirs();
  const where = [...searchDirs, cacheDir('models')].join(', ');
  if (!entry.url) {
    throw new GraftError(
      'MODEL_NOT_FOUND',
      `model ${entry.name} has no download URL; place ${entry.file} in one of: ${where} (set GRAFT_MODELS to its folder)` +
        (entry.manualHint ? `. To make it: ${entry.manualHint}` : ''),
    );
  }
  const target = await ensureFile({
    url: entry.url, sha256: entry.sha256, fileName: entry.file, searchDirs, cacheDir: cacheDir('models'),
    progress: opts.progress, label: `download ${entry.name}`, log: opts.log,
  });
  if (entry.format === 'tfjs') await fetchTfjsShards(entry.url, target, opts);
  return target;
}

/** Downloads the weight shards named by a TF.js model.json that sit beside it at the same URL base. */
async function fetchTfjsShards(modelJsonUrl: string, modelJson: string, opts: LoadOptions): Promise<void> {
  const manifest = JSON.parse(fs.readFileSync(modelJson, 'utf8')) as { weightsManifest?: { paths: string[] }[] };
  const base = modelJsonUrl.slice(0, modelJsonUrl.lastIndexOf('/') + 1);
  for (const group of manifest.weightsManifest ?? []) {
    for (const p of group.paths) {
      const dest = path.join(path.dirname(modelJson), p);
      if (!fs.existsSync(dest)) await download(base + p, dest, { progress: opts.progress, label: `download ${p}` });
    }
  }
}

/** Loads an ONNX file or a TF.js model folder / model.json. */
export async function loadPath(p: string, entry?: RegistryEntry): Promise<GraftModel> {
  const stat = fs.statSync(p);
  const modelJson = stat.isDirectory() ? path.join(p, 'model.json') : p.endsWith('.json') ? p : undefined;
  if (modelJson) return loadTfjs(modelJson, entry);
  if (!stat.isDirectory()) return loadOnnx(p, entry);
  throw new GraftError('MODEL_FORMAT', `${p}: a model folder must contain model.json (TF.js layers format)`);
}

interface TfjsMetadata { labels?: string[]; tmVersion?: string; imageSize?: number }

async function loadTfjs(modelJson: string, entry?: RegistryEntry): Promise<GraftModel> {
  if (!fs.existsSync(modelJson)) throw new GraftError('FILE_NOT_FOUND', `no model.json at ${modelJson}`);
  const converted = await loadTfjsAsOnnx(modelJson);
  const dir = path.dirname(modelJson);
  const metaFile = path.join(dir, 'metadata.json');
  const meta: TfjsMetadata = fs.existsSync(metaFile) ? (JSON.parse(fs.readFileSync(metaFile, 'utf8')) as TfjsMetadata) : {};
  const nOut = classCount(converted.model, converted.outputName);
  let labels: string[];
  let outputName = converted.outputName;
  if (entry?.labelMapFile) {
    const map = JSON.parse(fs.readFileSync(path.join(dir, entry.labelMapFile), 'utf8')) as number[];
    outputName = permuteOutputs(converted.model, converted.outputName, map);
    labels = imagenetLabels();
  } else if (meta.labels && meta.labels.length === nOut) {
    labels = meta.labels;
  } else {
    labels = defaultLabels(nOut);
  }
  const taps: Record<string, string> = {};
  for (const l of converted.layers) taps[l.name] = l.tensor;
  for (const [k, v] of Object.entries(entry?.taps ?? {})) if (taps[v]) taps[k] = taps[v];
  if (!taps.features || !taps.lastConv) Object.assign(taps, guessTaps(converted.model, taps));
  const size = meta.imageSize ?? 224;
  return {
    id: entry?.name ?? modelJson,
    source: modelJson,
    model: converted.model,
    inputName: converted.inputName,
    outputName,
    output: entry?.output ?? (endsInSoftmax(converted.model, outputName) ? 'probabilities' : 'logits'),
    preprocess: entry?.preprocess ?? { ...PREPROCESS_TF, size: [size, size] },
    labels,
    taps,
    hash: converted.contentHash,
    entry,
  };
}

async function loadOnnx(file: string, entry?: RegistryEntry): Promise<GraftModel> {
  const model = readModel(file);
  const g = model.graph;
  symbolicBatch(model);
  if (!g.inputs.length || !g.outputs.length) throw new GraftError('MODEL_FORMAT', `${file}: the graph has no inputs or no outputs`);
  const input = g.inputs[0];
  const meta = model.metadata;
  const preprocess: Preprocess = meta['graft.preprocess']
    ? (JSON.parse(meta['graft.preprocess']) as Preprocess)
    : entry?.preprocess ?? guessPreprocess(input.shape);
  const outputName = meta['graft.output_name'] ?? g.outputs[0].name;
  const labels = meta['graft.labels'] ? (JSON.parse(meta['graft.labels']) as string[]) : defaultLabels(classCount(model, outputName));
  const output = (meta['graft.output'] as GraftModel['output'] | undefined) ?? entry?.output ?? (endsInSoftmax(model, outputName) ? 'probabilities' : 'logits');
  const taps: Record<string, string> = { ...guessTaps(model, {}), ...(meta['graft.taps'] ? (JSON.parse(meta['graft.taps']) as Record<string, string>) : {}) };
  return {
    id: entry?.name ?? file,
    source: file,
    model,
    inputName: input.name,
    outputName,
    output,
    preprocess,
    labels,
    taps,
    hash: await sha256File(file),
    entry,
  };
}

/**
 * Reorders a classifier's logits into the standard class order: map[i] is the standard index of output i
 * (-1: no standard class). A standard class no output maps to gets a logit of -1e4 (probability ≈ 0).
 * Appends Pad + Gather so every later feature (heads, attacks, explain) sees standard indices.
 */
function permuteOutputs(model: Model, output: string, map: number[]): string {
  const missing = map.length;
  const inverse = new Array<number>(map.length).fill(missing);
  map.forEach((std, i) => {
    if (std >= 0) inverse[std] = i;
  });
  const b = new GraphBuilder(model.graph);
  const padded = b.op('Pad', [output, b.constInt64('pad_missing', [0, 0, 0, 1]), b.constFloat('missing_logit', -1e4)], {}, 'pad_missing_class');
  const standard = b.op('Gather', [padded, b.constInt64('standard_order', inverse)], { axis: attr.i(1) }, 'standard_order');
  model.graph.outputs = model.graph.outputs.map((o) => (o.name === output ? { ...o, name: standard } : o));
  return standard;
}

/**
 * How many classes a classifier output holds: the product of its non-batch dims ([N, 1000] and [N, 1000, 1, 1]
 * both hold 1000), from the declared output shape or, when that is missing or symbolic, from shape inference.
 * Unknown: 1000, the common case of an ImageNet classifier.
 */
export function classCount(model: Model, output: string): number {
  const declared = model.graph.outputs.find((o) => o.name === output)?.shape;
  const known = (dims: Model['graph']['outputs'][number]['shape']): number | undefined => {
    const rest = dims?.slice(1);
    return rest?.length && rest.every((d) => typeof d === 'number') ? (rest as number[]).reduce((a, d) => a * d, 1) : undefined;
  };
  return known(declared) ?? known(inferShapes(model.graph).get(output)?.shape) ?? 1000;
}

/** Labels of a classifier whose file names none: the ImageNet names for 1000 outputs (when graft has them), else `class i`. */
function defaultLabels(n: number): string[] {
  return n === 1000 ? imagenetLabelsOrIndices() : Array.from({ length: n }, (_, i) => `class ${i}`);
}

function guessPreprocess(shape: (number | string | null)[] | undefined): Preprocess {
  if (shape && shape.length === 4 && shape[3] === 3) {
    const size = typeof shape[1] === 'number' ? shape[1] : 224;
    return { ...PREPROCESS_TF, size: [size, typeof shape[2] === 'number' ? shape[2] : size] };
  }
  const size = shape && typeof shape[2] === 'number' ? shape[2] : 224;
  return { ...PREPROCESS_TORCH, size: [size, shape && typeof shape[3] === 'number' ? shape[3] : size] };
}

function endsInSoftmax(model: Model, output: string): boolean {
  const prod = producers(model.graph);
  let n = prod.get(output);
  while (n && (n.opType === 'Reshape' || n.opType === 'Flatten' || n.opType === 'Identity' || n.opType === 'Squeeze')) n = prod.get(n.inputs[0]);
  return n?.opType === 'Softmax';
}

const POOLS = new Set(['GlobalAveragePool', 'GlobalMaxPool', 'ReduceMean', 'QLinearGlobalAveragePool']);

/** For an arbitrary classifier: `features` = the pooled vector before the classifier, `lastConv` = the map it pools. */
function guessTaps(model: Model, known: Record<string, string>): Record<string, string> {
  const order = topoSort(model.graph);
  const pool = [...order].reverse().find((n) => POOLS.has(n.opType));
  const out: Record<string, string> = {};
  if (pool) {
    // On a quantised graph both land on float tensors (a DequantizeLinear of the pool's input / output).
    out.lastConv = known.lastConv ?? floatView(model.graph, pool.inputs[0]);
    out.features = known.features ?? floatView(model.graph, pool.outputs[0]);
  }
  return out;
}

/**
 * The tensor name for a tap given as a friendly name, layer name or tensor name. A tap on a quantised (integer)
 * tensor reads it through a DequantizeLinear (added to the model's graph once): features are always float.
 */
export function tapTensor(m: GraftModel, tap: string): string {
  return floatView(m.model.graph, m.taps[tap] ?? resolveTensor(m.model.graph, tap));
}
