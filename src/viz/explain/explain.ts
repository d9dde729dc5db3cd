/** One entry point for the saliency methods: picks the class, runs the method, returns the heat map and the input gradient. */
import type { GraftModel } from '../../models/load.js';
import { findClass } from '../../models/labels.js';
import { softmaxRows } from '../../math/rows.js';
import { GraftError } from '../../util/errors.js';
import { gradCam } from './gradcam.js';
import { reduceChannels } from './heat.js';
import { integratedGradients } from './integrated-gradients.js';
import { LogitGradient, type LogitGradientResult } from './logit-gradient.js';

export type ExplainMethod = 'gradient' | 'gradcam' | 'integrated-gradients';
export const EXPLAIN_METHODS: readonly ExplainMethod[] = ['gradient', 'gradcam', 'integrated-gradients'];

export interface ExplainOptions {
  /** Class index or label text; default: the top prediction. */
  class?: number | string;
  method?: ExplainMethod;
  /** Integrated-gradients steps. */
  steps?: number;
  baseline?: 'black' | 'zero';
}

export interface Explanation {
  method: ExplainMethod;
  class: number;
  label: string;
  probability: number;
  /** Heat map of [height, width] = hw. */
  heat: Float32Array;
  hw: [number, number];
  /** d logit[class] / d input (model layout, no batch axis). */
  gradient: Float32Array;
}

/** Explains the model's score for one preprocessed input tensor (model layout, no batch axis). */
export async function explain(m: GraftModel, input: Float32Array, opts: ExplainOptions = {}): Promise<Explanation> {
  const method = opts.method ?? 'gradient';
  const runner = await LogitGradient.create(m, 1);
  let cls: number;
  let first: LogitGradientResult;
  try {
    first = await runner.run(input, [0]);
    const probs = softmaxRows(first.logits, 1);
    cls = opts.class === undefined ? argmax(probs) : typeof opts.class === 'number' ? checkIndex(m, opts.class) : findClass(m.labels, opts.class);
    if (cls !== 0) first = await runner.run(input, [cls]);
  } finally {
    await runner.release();
  }
  const probability = softmaxRows(first.logits, 1)[cls];
  const base = { method, class: cls, label: m.labels[cls], probability, gradient: first.inputGradient };
  const size = m.preprocess.size;
  if (method === 'gradcam') {
    const cam = await gradCam(m, input, cls);
    return { ...base, heat: cam.heat, hw: cam.hw };
  }
  if (method === 'integrated-gradients') {
    const ig = await integratedGradients(m, input, cls, { steps: opts.steps, baseline: opts.baseline });
    return { ...base, heat: ig.heat, hw: size };
  }
  const [h, w] = size;
  return { ...base, heat: reduceChannels(first.inputGradient, m.preprocess.layout, h, w, 'maxAbs'), hw: size };
}

function checkIndex(m: GraftModel, i: number): number {
  if (!Number.isInteger(i) || i < 0 || i >= m.labels.length) throw new GraftError('UNKNOWN_CLASS', `class index ${i} is out of range (0–${m.labels.length - 1})`);
  return i;
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}
