/**
 * Grad-CAM (Selvaraju et al. 2017) on the last convolutional feature map A (NCHW): channel weights
 * α_k = mean over space of ∂ logit_C / ∂ A_k, heat = ReLU(Σ_k α_k·A_k) at the feature map's resolution.
 */
import type { GraftModel } from '../../models/load.js';
import { tapTensor } from '../../models/load.js';
import { GraftError } from '../../util/errors.js';
import { LogitGradient } from './logit-gradient.js';

export interface GradCam {
  /** ReLU(Σ α_k A_k), [height, width] = hw. */
  heat: Float32Array;
  hw: [number, number];
  weights: Float32Array;
  featureMap: Float32Array;
  featureGradient: Float32Array;
  logits: Float32Array;
}

/** Grad-CAM of class `cls` on `layer` (default the model's lastConv tap) for one input tensor. */
export async function gradCam(m: GraftModel, input: Float32Array, cls: number, layer = 'lastConv'): Promise<GradCam> {
  if (layer === 'lastConv' && !m.taps.lastConv) throw new GraftError('UNKNOWN_LAYER', `${m.id}: no lastConv tap (no global pooling found); name a layer`);
  const tensor = tapTensor(m, layer);
  const runner = await LogitGradient.create(m, 1, tensor);
  try {
    const r = await runner.run(input, [cls]);
    const tap = r.tap!;
    if (tap.dims.length !== 4) throw new GraftError('SHAPE', `Grad-CAM needs a 4-D NCHW feature map; "${tensor}" is ${tap.dims.join('×')}`);
    const [, channels, fh, fw] = tap.dims;
    return { ...camFrom(tap.values, tap.gradient, channels, fh, fw), hw: [fh, fw], featureMap: tap.values, featureGradient: tap.gradient, logits: r.logits };
  } finally {
    await runner.release();
  }
}

function camFrom(a: Float32Array, g: Float32Array, channels: number, fh: number, fw: number): { heat: Float32Array; weights: Float32Array } {
  const plane = fh * fw;
  const weights = new Float32Array(channels);
  const heat = new Float32Array(plane);
  for (let k = 0; k < channels; k++) {
    let s = 0;
    for (let i = 0; i < plane; i++) s += g[k * plane + i];
    weights[k] = s / plane;
    for (let i = 0; i < plane; i++) heat[i] += weights[k] * a[k * plane + i];
  }
  for (let i = 0; i < plane; i++) heat[i] = Math.max(0, heat[i]);
  return { heat, weights };
}
