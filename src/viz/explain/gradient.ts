/** Saliency maps (Simonyan et al. 2013): |∂ logit_C / ∂ x|, maximum over colour channels. */
import type { GraftModel } from '../../models/load.js';
import { reduceChannels } from './heat.js';
import { LogitGradient } from './logit-gradient.js';

export interface Saliency {
  /** h×w heat map. */
  heat: Float32Array;
  /** d logit[C] / d input for the one input (model layout, no batch axis). */
  gradient: Float32Array;
  logits: Float32Array;
}

/** Saliency of class `cls` for one preprocessed input tensor (model layout, no batch axis). */
export async function saliency(m: GraftModel, input: Float32Array, cls: number): Promise<Saliency> {
  const runner = await LogitGradient.create(m, 1);
  try {
    const r = await runner.run(input, [cls]);
    const [h, w] = m.preprocess.size;
    return { heat: reduceChannels(r.inputGradient, m.preprocess.layout, h, w, 'maxAbs'), gradient: r.inputGradient, logits: r.logits };
  } finally {
    await runner.release();
  }
}
