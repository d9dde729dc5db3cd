/** Runs a GraftModel (or a cut of it) over image files in streamed batches. */
import { cutAt, exposeOutputs } from '../onnx/graph.js';
import { Session, float32 } from '../runtime/session.js';
import { batches, type ImageFailure } from '../image/batch.js';
import type { Augment } from '../image/augment.js';
import type { ProgressSink } from '../util/progress.js';
import type { GraftModel } from '../models/load.js';

export interface RunRows {
  /** Row r of each output belongs to sources[indices[r]]. */
  indices: number[];
  outputs: Record<string, { data: Float32Array; dims: number[] }>;
}

/** A session over the model, optionally cut at taps (only those outputs) or with taps exposed beside the output. */
export async function modelSession(m: GraftModel, outputs?: string[], mode: 'cut' | 'expose' = 'cut'): Promise<{ session: Session; outputs: string[] }> {
  const wanted = outputs ?? [m.outputName];
  const graph = mode === 'cut' ? cutAt(m.model.graph, wanted) : exposeOutputs(m.model.graph, wanted);
  const session = await Session.create({ ...m.model, graph });
  return { session, outputs: wanted };
}

export interface StreamRunOptions {
  batchSize?: number;
  progress?: ProgressSink;
  augment?: Augment;
  seed?: number;
  onFailure?: (f: ImageFailure) => void;
}

/** Streams images through the session; decoding of the next batches overlaps inference of the current one. */
export async function* runImages(m: GraftModel, session: Session, outputs: string[], files: string[], opts: StreamRunOptions = {}): AsyncGenerator<RunRows> {
  const batchSize = opts.batchSize ?? 32;
  for await (const batch of batches(files, m.preprocess, { batchSize, progress: opts.progress, augment: opts.augment, seed: opts.seed })) {
    for (const f of batch.failures) opts.onFailure?.(f);
    if (batch.indices.length === 0) continue;
    const result = await session.run({ [m.inputName]: float32(batch.data, batch.dims) }, outputs);
    const out: RunRows['outputs'] = {};
    for (const name of outputs) out[name] = { data: result[name].data as Float32Array, dims: [...result[name].dims] };
    yield { indices: batch.indices, outputs: out };
  }
}

export function softmaxRows(x: Float32Array, rows: number): Float32Array {
  const cols = x.length / rows;
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let c = 0; c < cols; c++) max = Math.max(max, x[r * cols + c]);
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += (out[r * cols + c] = Math.exp(x[r * cols + c] - max));
    for (let c = 0; c < cols; c++) out[r * cols + c] /= sum;
  }
  return out;
}

export interface Prediction { index: number; label: string; probability: number }

/** Top-k of one row of probabilities. */
export function topK(probs: Float32Array, labels: string[], k: number): Prediction[] {
  const idx = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]).slice(0, k);
  return idx.map((i) => ({ index: i, label: labels[i] ?? `class ${i}`, probability: probs[i] }));
}
