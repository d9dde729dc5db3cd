/**
 * Feature extraction from any tap of a backbone, with an on-disk cache keyed by model hash, tap,
 * preprocessing and each file's identity (size + mtime): a second run on the same data does no extraction.
 */
import { batchDims } from '../image/preprocess.js';
import fs from 'node:fs';
import path from 'node:path';
import { GraphBuilder, cutAt } from '../onnx/graph.js';
import { inferShapes } from '../onnx/shapes.js';
import { attr, type Model } from '../onnx/types.js';
import { Session } from '../runtime/session.js';
import { runImages } from '../predict/runner.js';
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

/** The backbone up to `tap`; a spatial tap ([N,C,H,W]) is pooled, so features are always [N, dim]. */
export function backboneAt(m: GraftModel, tap = 'features', pooling: Pooling = 'avg'): Backbone {
  const tensor = tapTensor(m, tap);
  const graph = cutAt(m.model.graph, [tensor]);
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
export function featureCacheDir(m: GraftModel, tap: string, pooling: Pooling = 'avg'): string {
  return cacheDir('features', sha256(JSON.stringify({ model: m.hash, tap, pooling, pre: m.preprocess, v: 1 })).slice(0, 24));
}

/** Extracts pooled features for `files` (cached per file); decoding overlaps inference. */
export async function extractFeatures(
  m: GraftModel,
  files: string[],
  opts: { tap?: string; pooling?: Pooling; batchSize?: number; progress?: ProgressSink; signal?: AbortSignal } = {},
): Promise<ExtractResult> {
  opts.signal?.throwIfAborted();
  const started = Date.now();
  const tap = opts.tap ?? 'features';
  const pooling = opts.pooling ?? 'avg';
  const dir = featureCacheDir(m, tap, pooling);
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
  ids.forEach((id, i) => {
    if (!id) failures.push({ path: files[i], reason: 'file not found' } as ImageFailure);
    else if (index.failed[id]) failures.push({ path: files[i], reason: index.failed[id] } as ImageFailure);
    else if (index.rows[id] === undefined) todo.push(i);
  });

  if (todo.length) {
    const backbone = backboneAt(m, tap, pooling);
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
          failures.push(f);
          const id = ids[todo[todoFiles.indexOf(f.path)]];
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
  return { x, dim, rows, failures, extracted: todo.length, fromCache: files.length - todo.length - failures.length, seconds: (Date.now() - started) / 1000 };
}
