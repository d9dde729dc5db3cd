/** ImageNet (or any head's) top-K classification of image files. */
import type { GraftModel } from '../models/load.js';
import type { ProgressSink } from '../util/progress.js';
import { modelSession, runImages, softmaxRows, topK, type Prediction } from './runner.js';

export interface Classification {
  image: string;
  predictions: Prediction[];
  /** Set instead of predictions when the image could not be read. */
  error?: string;
}

export async function classify(m: GraftModel, images: string[], opts: { top?: number; batchSize?: number; progress?: ProgressSink } = {}): Promise<Classification[]> {
  const results: Classification[] = images.map((image) => ({ image, predictions: [] }));
  const { session, outputs } = await modelSession(m);
  try {
    for await (const rows of runImages(m, session, outputs, images, {
      batchSize: opts.batchSize ?? Math.min(32, images.length),
      progress: opts.progress,
      onFailure: (f) => { results[f.index].error = f.reason; },
    })) {
      const { data } = rows.outputs[m.outputName];
      const n = rows.indices.length;
      const probs = m.output === 'logits' ? softmaxRows(data, n) : data;
      const cols = probs.length / n;
      rows.indices.forEach((img, r) => {
        results[img].predictions = topK(probs.subarray(r * cols, (r + 1) * cols), m.labels, opts.top ?? 5);
      });
    }
  } finally {
    await session.release();
  }
  return results;
}
