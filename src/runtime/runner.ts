/** Runs a model (or a cut of it) over image files in streamed batches: the shared "model over images" service. */
import { cutAt, exposeOutputs } from '../onnx/graph.js';
import type { Model } from '../onnx/types.js';
import { Session, float32 } from './session.js';
import { batches, type ImageFailure } from '../image/batch.js';
import type { Augment } from '../image/augment.js';
import type { Preprocess } from '../image/preprocess.js';
import type { ProgressSink } from '../util/progress.js';

/** What the runner needs of a model: a GraftModel (models/load) is one; the runtime cannot import it from above. */
export interface ImageModel {
  model: Model;
  inputName: string;
  outputName: string;
  preprocess: Preprocess;
}

export interface RunRows {
  /** Row r of each output belongs to sources[indices[r]]. */
  indices: number[];
  outputs: Record<string, { data: Float32Array; dims: number[] }>;
}

/** A session over the model, optionally cut at taps (only those outputs) or with taps exposed beside the output. */
export async function modelSession(m: ImageModel, outputs?: string[], mode: 'cut' | 'expose' = 'cut'): Promise<{ session: Session; outputs: string[] }> {
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
export async function* runImages(m: ImageModel, session: Session, outputs: string[], files: string[], opts: StreamRunOptions = {}): AsyncGenerator<RunRows> {
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
