/**
 * Feature extraction from any tap of a backbone, with an on-disk cache keyed by model hash, tap,
 * preprocessing and each file's identity (size + mtime): a second run on the same data does no extraction.
 */
import { batchDims } from '../image/layout.js';
import fs from 'node:fs';
import path from 'node:path';
import { GraphBuilder, cutAt } from '../onnx/graph.js';
import { inferShapes } from '../onnx/shapes.js';
import { attr, type Graph, type Model } from '../onnx/types.js';
import { Session } from '../runtime/session.js';
import { runImages } from '../runtime/runner.js';
import { tapTensor, type GraftModel } from '../models/load.js';
import type { ImageFailure } from '../image/batch.js';
import { cacheDir } from '../util/paths.js';
import { sha256, writeFileAtomic } from '../util/fsutil.js';
import { GraftError } from '../util/errors.js';
import type { ProgressSink } from '../util/progress.js';

export interface Backbone {
  /** The model cut at the tap, ending in a pooled [N, dim] feature vector (`features` output). */
  model: Model;
  inputName: string;
  /** Name of the [N, dim] output. */
  output: string;
  tap: string;
  dim: number;
}

/** How a spatial tap becomes a vector: global average pooling, or fastai's concat pooling (average ‖ max). */
export type Pooling = 'avg' | 'avgmax';

/**
 * The backbone up to `tap`; a spatial tap ([N,C,H,W]) is pooled, so features are always [N, dim].
 * With `flip`, the input image is mirrored left–right inside the graph first (test-time augmentation).
 */
export function backboneAt(m: GraftModel, tap = 'features', pooling: Pooling = 'avg', flip = false): Backbone {
  const tensor = tapTensor(m, tap);
  const graph = cutAt(m.model.graph, [tensor]);
  if (flip) mirrorInput(graph, m.inputName, m.preprocess.layout === 'NHWC' ? 2 : 3);
  const shape = inferShapes(graph, { [m.inputName]: batchDims(1, m.preprocess) }).get(tensor)?.shape;
  if (!shape || shape.some((d) => typeof d !== 'number')) throw new GraftError('SHAPE', `cannot infer the shape of tap ${tap} (${tensor})`);
  const dims = shape as number[];
  const b = new GraphBuilder(graph);
  let out = tensor;
  if (dims.length === 4) {
    const avg = b.op('GlobalAveragePool', [out], {}, 'graft_tap_avgpool');
    out = pooling === 'avgmax' ? b.op('Concat', [avg, b.op('GlobalMaxPool', [out], {}, 'graft_tap_maxpool')], { axis: attr.i(1) }, 'graft_tap_concatpool') : avg;
  }
  if (dims.length !== 2) out = b.op('Flatten', [out], {}, 'graft_tap_flatten');
  const channels = dims.length === 4 ? dims[1] * (pooling === 'avgmax' ? 2 : 1) : 0;
  const dim = dims.length === 4 ? channels : dims.slice(1).reduce((a, c) => a * c, 1);
  graph.outputs = [{ name: out, dtype: 'float32', shape: ['N', dim] }];
  return { model: { ...m.model, graph }, inputName: m.inputName, output: out, tap, dim };
}

/** Makes every consumer of `input` read it mirrored along `widthAxis` (Slice with step −1). */
export function mirrorInput(graph: Graph, input: string, widthAxis: number): string {
  const b = new GraphBuilder(graph);
  const consumers = graph.nodes.slice();
  const mirrored = b.op('Slice', [input, b.constInt64('mirror_starts', [-1]), b.constInt64('mirror_ends', [Number.MIN_SAFE_INTEGER]), b.constInt64('mirror_axes', [widthAxis]), b.constInt64('mirror_steps', [-1])], {}, 'graft_mirror');
  for (const n of consumers) n.inputs = n.inputs.map((i) => (i === input ? mirrored : i));
  // The Slice was appended last; graphs are kept in topological order, so it moves to the front.
  graph.nodes.unshift(graph.nodes.pop()!);
  return mirrored;
}

export interface ExtractResult {
  /** Row-major [n, dim]; rows of failed images are absent. */
  x: Float32Array;
  dim: number;
  /** Index into `files` of each row. */
  rows: number[];
  failures: ImageFailure[];
  extracted: number;
  fromCache: number;
  seconds: number;
}

interface CacheIndex {
  dim: number;
  /** file identity → row in features.bin */
  rows: Record<string, number>;
  /** file identity → failure reason (corrupt files are not retried until they change) */
  failed: Record<string, string>;
}

function identity(file: string): string | undefined {
  try {
    const st = fs.statSync(file);
    return `${path.resolve(file)}|${st.size}|${Math.round(st.mtimeMs)}`;
  } catch {
    return undefined;
  }
}

/** Cache folder for (model, tap, preprocessing). */
export function featureCacheDir(m: GraftModel, tap: string, pooling: Pooling = 'avg', flip = false): string {
  // `flip` only enters the key when set, so caches written before TTA existed stay valid.
  return cacheDir('features', sha256(JSON.stringify({ model: m.hash, tap, pooling, pre: m.preprocess, v: 1, ...(flip ? { flip } : {}) })).slice(0, 24));
}

export interface ExtractOptions {
  tap?: string;
  pooling?: Pooling;
  batchSize?: number;
  /** Features of the mirrored images (TTA). */
  flip?: boolean;
  progress?: ProgressSink;
  /** Aborting stops extraction between batches (rejects with the signal's reason); rows already cached are kept. */
  signal?: AbortSignal;
}

/**
 * Features of several backbones side by side (each with its own preprocessing and cache): row r is
 * backbone 1's vector ‖ backbone 2's ‖ …; a file unreadable by any of them is left out.
 */
export async function extractConcatenated(models: GraftModel[], files: string[], opts: ExtractOptions = {}): Promise<ExtractResult> {
  if (models.length === 1) return extractFeatures(models[0], files, opts);
  const parts: ExtractResult[] = [];
  for (const m of models) parts.push(await extractFeatures(m, files, opts));
  const rowMaps = parts.map((p) => new Map(p.rows.map((fileIndex, r) => [fileIndex, r])));
  const rows = parts[0].rows.filter((i) => rowMaps.every((map) => map.has(i)));
  const dim = parts.reduce((a, p) => a + p.dim, 0);
  const x = new Float32Array(rows.length * dim);
  rows.forEach((fileIndex, r) => {
    let at = r * dim;
    parts.forEach((p, k) => {
      const src = rowMaps[k].get(fileIndex)! * p.dim;
      x.set(p.x.subarray(src, src + p.dim), at);
      at += p.dim;
    });
  });
  const failed = new Map<string, ImageFailure>();
  for (const p of parts) for (const f of p.failures) if (!failed.has(f.path)) failed.set(f.path, f);
  return {
    x, dim, rows, failures: [...failed.values()],
    extracted: parts.reduce((a, p) => a + p.extracted, 0),
    fromCache: parts.reduce((a, p) => a + p.fromCache, 0),
    seconds: parts.reduce((a, p) => a + p.seconds, 0),
  };
}

/** Extracts pooled features for `files` (cached per file); decoding overlaps inference. */
export async function extractFeatures(
  m: GraftModel,
  files: string[],
  opts: ExtractOptions = {},
): Promise<ExtractResult> {
  opts.signal?.throwIfAborted();
  const started = Date.now();
  const tap = opts.tap ?? 'features';
  const pooling = opts.pooling ?? 'avg';
  const dir = featureCacheDir(m, tap, pooling, opts.flip);
  const indexFile = path.join(dir, 'index.json');
  const binFile = path.join(dir, 'features.bin');
  let index: CacheIndex = { dim: 0, rows: {}, failed: {} };
  if (fs.existsSync(indexFile)) {
    try {
      index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as CacheIndex;
    } catch {
      index = { dim: 0, rows: {}, failed: {} };
    }
  }
  const ids = files.map(identity);
  const failures: ImageFailure[] = [];
  const todo: number[] = [];
  let freshFailures = 0;
  ids.forEach((id, i) => {
    if (!id) failures.push({ path: files[i], index: i, reason: 'file not found' });
    else if (index.failed[id]) failures.push({ path: files[i], index: i, reason: index.failed[id] });
    else if (index.rows[id] === undefined) todo.push(i);
  });

  if (todo.length) {
    const backbone = backboneAt(m, tap, pooling, opts.flip);
    if (index.dim && index.dim !== backbone.dim) index = { dim: 0, rows: {}, failed: {} };
    index.dim = backbone.dim;
    const session = await Session.create(backbone.model);
    await fs.promises.mkdir(dir, { recursive: true });
    // Rows already indexed are complete; anything past them (a crash mid-append) is overwritten.
    let nextRow = Object.keys(index.rows).length ? Math.max(...Object.values(index.rows)) + 1 : 0;
    const fh = await fs.promises.open(binFile, fs.existsSync(binFile) ? 'r+' : 'w');
    try {
      const todoFiles = todo.map((i) => files[i]);
      for await (const batch of runImages({ ...m, model: backbone.model }, session, [backbone.output], todoFiles, {
        batchSize: opts.batchSize ?? 32,
        progress: opts.progress,
        onFailure: (f) => {
          // f.index counts within todoFiles; report it against `files`.
          failures.push({ ...f, index: todo[f.index] });
          freshFailures++;
          const id = ids[todo[f.index]];
          if (id) index.failed[id] = f.reason;
        },
      })) {
        const data = batch.outputs[backbone.output].data;
        await fh.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 0, data.byteLength, nextRow * backbone.dim * 4);
        batch.indices.forEach((k) => {
          index.rows[ids[todo[k]]!] = nextRow++;
        });
        await writeFileAtomic(indexFile, JSON.stringify(index));
        // Checked after the index is written, so the features extracted so far stay cached for the next run.
        opts.signal?.throwIfAborted();
      }
      await fh.sync();
    } finally {
      await fh.close();
      await session.release();
    }
  }

  const dim = index.dim;
  const rows: number[] = [];
  ids.forEach((id, i) => {
    if (id && index.rows[id] !== undefined) rows.push(i);
  });
  const x = new Float32Array(rows.length * dim);
  if (rows.length) {
    const bin = fs.readFileSync(binFile);
    const all = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
    rows.forEach((i, r) => {
      const at = index.rows[ids[i]!] * dim;
      x.set(all.subarray(at, at + dim), r * dim);
    });
  }
  return { x, dim, rows, failures, extracted: todo.length - freshFailures, fromCache: rows.length - (todo.length - freshFailures), seconds: (Date.now() - started) / 1000 };
}
