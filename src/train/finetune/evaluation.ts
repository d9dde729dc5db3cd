/** Validation for the training loop: an evaluation-mode pass over images, and which epoch's weights to keep. */
import { asFloat32, float32, type OrtTensor, type Session } from '../../runtime/session.js';
import { batches, type ImageFailure } from '../../image/batch.js';
import { argmax, logSumExp } from '../../math/rows.js';
import { progressOrSilent, type ProgressSink } from '../../util/progress.js';
import type { TrainableNetwork } from './network.js';

export interface LabelledImage {
  path: string;
  label: number;
}

export interface Evaluation {
  loss: number;
  accuracy: number;
  logits: Float32Array;
  /** Index into the images of each logits row (unreadable images are absent). */
  rows: number[];
  /** Images that could not be read (left out of the rows). */
  failures: ImageFailure[];
}

/** Evaluation-mode pass over images: mean cross-entropy, accuracy, logits. */
export async function evaluate(
  session: Session, net: Pick<TrainableNetwork, 'preprocess' | 'inputName'>, images: LabelledImage[], k: number, batchSize: number,
  feeds: Record<string, OrtTensor>, progress?: ProgressSink, label = 'evaluate',
): Promise<Evaluation> {
  const task = progressOrSilent(progress).start(label, images.length, 'img');
  const logits = new Float32Array(images.length * k);
  const rows: number[] = [];
  let loss = 0;
  let correct = 0;
  const failures: ImageFailure[] = [];
  for await (const batch of batches(images.map((i) => i.path), net.preprocess, { batchSize, concurrency: 2 })) {
    failures.push(...batch.failures);
    if (!batch.indices.length) continue;
    const out = await session.run({ ...feeds, [net.inputName]: float32(batch.data, batch.dims) }, ['logits']);
    const l = asFloat32(out.logits);
    logits.set(l, rows.length * k);
    const s = scoreRows(l, batch.indices.map((i) => images[i].label), k);
    loss += s.loss;
    correct += s.correct;
    rows.push(...batch.indices);
    task.increment(batch.indices.length + batch.failures.length);
  }
  task.finish();
  const n = Math.max(1, rows.length);
  return { loss: loss / n, accuracy: correct / n, logits: logits.slice(0, rows.length * k), rows, failures };
}

/** Σ cross-entropy and number of correct argmax predictions over the first labels.length rows. */
export function scoreRows(logits: Float32Array, labels: number[], k: number): { loss: number; correct: number } {
  let loss = 0;
  let correct = 0;
  labels.forEach((label, r) => {
    loss += logSumExp(logits, r * k, (r + 1) * k) - logits[r * k + label];
    if (argmax(logits, r * k, (r + 1) * k) === label) correct++;
  });
  return { loss, correct };
}

export interface Score {
  acc: number;
  loss: number;
}

/** Worse than any evaluation (and JSON-safe, unlike ±Infinity). */
export const NO_SCORE: Score = { acc: -1, loss: Number.MAX_VALUE };

/** The epoch whose weights are kept: highest val accuracy, ties broken by lower val loss (the last epoch without validation). */
export class BestModel {
  constructor(
    public epoch: number,
    public score: Score,
    public values: Map<string, Float32Array>,
    public valLogits?: Float32Array,
  ) {}

  static initial(values: Map<string, Float32Array>): BestModel {
    return new BestModel(0, NO_SCORE, copyValues(values));
  }

  /** Keeps epoch `epoch`'s values when its evaluation (none: no validation set) is the best so far. */
  consider(epoch: number, values: Map<string, Float32Array>, ev?: Evaluation): void {
    if (ev && !(ev.accuracy > this.score.acc || (ev.accuracy === this.score.acc && ev.loss < this.score.loss))) return;
    this.epoch = epoch;
    this.values = copyValues(values);
    if (ev) {
      this.score = { acc: ev.accuracy, loss: ev.loss };
      this.valLogits = ev.logits;
    }
  }
}

function copyValues(values: Map<string, Float32Array>): Map<string, Float32Array> {
  return new Map([...values].map(([n, v]) => [n, Float32Array.from(v)]));
}
