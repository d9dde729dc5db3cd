/** A small seeded CNN classifier as a GraftModel (NCHW 3×8×8 → conv 3×3 → tanh → global average pool → dense). */
import type { GraftModel } from '../../src/models/load.js';
import { GraphBuilder } from '../../src/onnx/graph.js';
import { attr, emptyGraph, newModel, type Tensor } from '../../src/onnx/types.js';
import type { Preprocess } from '../../src/image/preprocess.js';
import { Rng } from '../../src/util/rng.js';

export const TINY_CLASSES = 5;
export const TINY_FEATURES = 4;
export const TINY_PRE: Preprocess = { size: [8, 8], resize: 'stretch', mean: [0.5, 0.4, 0.3], std: [0.25, 0.3, 0.2], channelOrder: 'rgb', layout: 'NCHW' };

function weights(rng: Rng, name: string, dims: number[], sd: number): Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  return { name, dtype: 'float32', dims, data: Float32Array.from({ length: n }, () => sd * rng.normal()) };
}

/**
 * act: the conv activation ('Tanh' for smooth finite differences, 'Relu' like real CNNs).
 * output 'probabilities' ends in Softmax over a [N, C, 1, 1] 1×1-conv classifier, like the TF.js MobileNet.
 */
export function tinyModel(seed = 1, act: 'Tanh' | 'Relu' = 'Tanh', output: 'logits' | 'probabilities' = 'logits'): GraftModel {
  const rng = new Rng(seed);
  const g = emptyGraph('tiny');
  const b = new GraphBuilder(g);
  b.input('input', 'float32', ['N', 3, 8, 8]);
  const w = b.initializer(weights(rng, 'conv_w', [TINY_FEATURES, 3, 3, 3], 0.5));
  const bias = b.initializer(weights(rng, 'conv_b', [TINY_FEATURES], 0.1));
  const conv = b.op('Conv', ['input', w, bias], { pads: attr.ints([1, 1, 1, 1]) }, 'conv');
  const feature = b.op(act, [conv], {}, 'feature_map');
  const pooled = b.op('GlobalAveragePool', [feature], {}, 'pool');
  let out: string;
  if (output === 'logits') {
    const flat = b.op('Flatten', [pooled], { axis: attr.i(1) }, 'features');
    const fc = b.initializer(weights(rng, 'fc_w', [TINY_CLASSES, TINY_FEATURES], 1));
    const fcb = b.initializer(weights(rng, 'fc_b', [TINY_CLASSES], 0.1));
    out = b.op('Gemm', [flat, fc, fcb], { transB: attr.i(1) }, 'logits');
  } else {
    const fc = b.initializer(weights(rng, 'fc_w', [TINY_CLASSES, TINY_FEATURES, 1, 1], 1));
    const preds = b.op('Conv', [pooled, fc], {}, 'conv_preds');
    const soft = b.op('Softmax', [preds], { axis: attr.i(1) }, 'softmax');
    out = b.op('Reshape', [soft, b.constInt64('shape', [-1, TINY_CLASSES])], {}, 'probabilities');
  }
  b.output(out, 'float32', ['N', TINY_CLASSES]);
  return {
    id: `tiny-${seed}`,
    source: `tiny:${seed}`,
    model: newModel(g, 17),
    inputName: 'input',
    outputName: out,
    output,
    preprocess: TINY_PRE,
    labels: Array.from({ length: TINY_CLASSES }, (_, i) => `class ${i}`),
    taps: { lastConv: feature, features: pooled },
    hash: `tiny-${seed}-${act}-${output}`,
  };
}
