/** The lab's from-scratch baseline CNN: [conv3×3 → BN? → ReLU → maxpool2] per width, global average pool, dense. */
import type { BuildOptions, BuiltModel } from './assemble.js';
import { finishModel, startModel } from './assemble.js';
import { GraftError } from '../../util/errors.js';

export interface ScratchCnnOptions extends BuildOptions {
  /** Output channels of each conv block; default [32, 64, 128, 128]. */
  widths?: number[];
  /** Batch norm after each conv (default true); without it the convs carry a bias. */
  batchNorm?: boolean;
}

/** Default input side: small enough that training on two CPU cores takes minutes, not hours. */
export const SCRATCH_INPUT_SIZE = 128;

/**
 * Baseline CNN sized for CPU training (≈ 0.24 M parameters at the default widths, plus 129 per class). Module paths follow an
 * nn.Sequential-of-blocks layout: `features.{i}.conv|bn|relu|pool`, `avgpool`, `flatten`, `classifier`.
 */
export function scratchCnn(opts: ScratchCnnOptions = {}): BuiltModel {
  const widths = opts.widths ?? [32, 64, 128, 128];
  const withBn = opts.batchNorm ?? true;
  const d = startModel('scratch_cnn', opts, SCRATCH_INPUT_SIZE);
  if (widths.length === 0 || widths.some((w) => !Number.isInteger(w) || w < 1)) {
    throw new GraftError('BAD_ARGUMENT', `building scratch_cnn: widths must be positive integers, got [${widths.join(', ')}]`);
  }
  if (d.inputSize >> widths.length < 1) {
    throw new GraftError('BAD_ARGUMENT', `building scratch_cnn: inputSize ${d.inputSize} is too small for ${widths.length} 2× poolings`);
  }
  const L = d.layers;
  let x = d.input;
  let channels = 3;
  let lastConv = x;
  widths.forEach((width, i) => {
    const block = `features.${i}`;
    x = L.conv(x, { name: `${block}.conv`, inChannels: channels, outChannels: width, kernel: 3, bias: !withBn });
    if (withBn) x = L.batchNorm(x, `${block}.bn`, width);
    x = lastConv = L.relu(x, `${block}.relu`);
    x = L.tap(block, L.maxPool(x, `${block}.pool`, 2, 2));
    channels = width;
  });
  L.tap('features', x);
  const features = L.flatten(L.globalAvgPool(x, 'avgpool'), 'flatten');
  const logits = L.linear(features, { name: 'classifier', inFeatures: channels, outFeatures: d.classes, init: { kind: 'torchDefault' }, output: 'logits' });
  return finishModel(d, logits, features, lastConv);
}
