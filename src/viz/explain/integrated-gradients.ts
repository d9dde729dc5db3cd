/**
 * Integrated gradients (Sundararajan et al. 2017): (x − x′) ⊙ ∫₀¹ ∇ logit_C(x′ + α(x − x′)) dα, the integral
 * by the midpoint rule over `steps` points, evaluated in batches. Completeness: Σ attributions ≈ f(x) − f(x′).
 */
import type { GraftModel } from '../../models/load.js';
import { toTensor } from '../../image/layout.js';
import { reduceChannels } from './heat.js';
import { LogitGradient } from './logit-gradient.js';

export interface IntegratedGradientsOptions {
  steps?: number;
  /** black: the all-black image (pixel 0) in network units; zero: the all-zero tensor. */
  baseline?: 'black' | 'zero';
  batch?: number;
}

export interface IntegratedGradients {
  /** Attributions in the model's input layout (no batch axis). */
  attribution: Float32Array;
  /** Σ over channels of |attribution|, h×w. */
  heat: Float32Array;
  /** f(x) and f(x′): the class logit at the input and at the baseline. */
  logit: number;
  baselineLogit: number;
  logits: Float32Array;
}

/** The baseline tensor x′ for one input of model m. */
export function baselineTensor(m: GraftModel, kind: 'black' | 'zero'): Float32Array {
  const [h, w] = m.preprocess.size;
  if (kind === 'zero') return new Float32Array(3 * h * w);
  return toTensor({ data: new Uint8Array(3 * h * w), width: w, height: h }, m.preprocess);
}

/** Integrated gradients of class `cls` for one input tensor (model layout, no batch axis). */
export async function integratedGradients(m: GraftModel, input: Float32Array, cls: number, opts: IntegratedGradientsOptions = {}): Promise<IntegratedGradients> {
  const steps = opts.steps ?? 32;
  const batch = Math.min(steps, opts.batch ?? 8);
  const base = baselineTensor(m, opts.baseline ?? 'black');
  const size = input.length;
  const classes = m.labels.length;
  const runner = await LogitGradient.create(m, batch);
  try {
    const summed = new Float64Array(size);
    for (let start = 0; start < steps; start += batch) {
      const count = Math.min(batch, steps - start);
      // Unused rows of the last batch hold the baseline; their gradients are ignored.
      const points = new Float32Array(batch * size);
      for (let j = 0; j < batch; j++) {
        const alpha = j < count ? (start + j + 0.5) / steps : 0;
        for (let i = 0; i < size; i++) points[j * size + i] = base[i] + alpha * (input[i] - base[i]);
      }
      const r = await runner.run(points, new Array<number>(batch).fill(cls));
      for (let j = 0; j < count; j++) for (let i = 0; i < size; i++) summed[i] += r.inputGradient[j * size + i];
    }
    const attribution = new Float32Array(size);
    for (let i = 0; i < size; i++) attribution[i] = ((input[i] - base[i]) * summed[i]) / steps;
    const ends = new Float32Array(batch * size);
    ends.set(input, 0);
    if (batch > 1) ends.set(base, size);
    const endpoints = await runner.run(ends, new Array<number>(batch).fill(cls));
    const baselineLogit = batch > 1 ? endpoints.logits[classes + cls] : (await runner.run(base, [cls])).logits[cls];
    const [h, w] = m.preprocess.size;
    return {
      attribution,
      heat: reduceChannels(attribution, m.preprocess.layout, h, w, 'sumAbs'),
      logit: endpoints.logits[cls],
      baselineLogit,
      logits: endpoints.logits.slice(0, classes),
    };
  } finally {
    await runner.release();
  }
}
