/** The shared frame of every architecture builder: options, the `input` placeholder, and the finished BuiltModel. */
import { GraphBuilder } from '../../onnx/graph.js';
import { emptyGraph, newModel } from '../../onnx/types.js';
import type { Model } from '../../onnx/types.js';
import { GraftError } from '../../util/errors.js';
import { Rng } from '../../util/rng.js';
import { Layers } from './layers.js';

export interface BuildOptions {
  /** Seed of the weight initialisation; the same seed gives identical weights. Default 0. */
  seed?: number;
  /** Classifier outputs; default 1000. */
  classes?: number;
  /** Batch dimension: a fixed size or the symbolic 'N' (default). */
  batch?: number | 'N';
  /** Square input side; default 224 (the scratch CNN's default is its own). */
  inputSize?: number;
}

export interface BuiltModel {
  /** Opset-17 model with input `input` [N,3,H,W] (NCHW, float32) and output `logits` [N, classes]. */
  model: Model;
  inputName: 'input';
  outputName: 'logits';
  inputShape: [number | 'N', 3, number, number];
  /** torchvision module path (e.g. 'features.28', 'layer4', 'avgpool', 'features') → tensor name. */
  taps: Record<string, string>;
  /** The pooled, flattened feature vector the classifier reads. */
  featureTap: string;
  /** The last convolutional feature map (post-activation), for Grad-CAM. */
  lastConvTap: string;
}

export type ArchitectureBuilder = (opts?: BuildOptions) => BuiltModel;

/** A model under construction: its layers, the input tensor and the resolved options. */
export interface Draft {
  architecture: string;
  layers: Layers;
  input: string;
  seed: number;
  classes: number;
  batch: number | 'N';
  inputSize: number;
}

/** Validates options and opens a graph with the `input` placeholder. */
export function startModel(architecture: string, opts: BuildOptions, defaultInputSize = 224): Draft {
  const seed = opts.seed ?? 0;
  const classes = opts.classes ?? 1000;
  const batch = opts.batch ?? 'N';
  const inputSize = opts.inputSize ?? defaultInputSize;
  const where = `building ${architecture}`;
  if (!Number.isInteger(seed)) throw new GraftError('BAD_ARGUMENT', `${where}: seed must be an integer, got ${seed}`);
  if (!Number.isInteger(classes) || classes < 1) throw new GraftError('BAD_ARGUMENT', `${where}: classes must be a positive integer, got ${classes}`);
  if (batch !== 'N' && (!Number.isInteger(batch) || batch < 1)) throw new GraftError('BAD_ARGUMENT', `${where}: batch must be a positive integer or 'N', got ${batch}`);
  if (!Number.isInteger(inputSize) || inputSize < 32) throw new GraftError('BAD_ARGUMENT', `${where}: inputSize must be an integer ≥ 32, got ${inputSize}`);
  const g = new GraphBuilder(emptyGraph(architecture));
  const input = g.input('input', 'float32', [batch, 3, inputSize, inputSize]);
  return { architecture, layers: new Layers(g, new Rng(seed)), input, seed, classes, batch, inputSize };
}

/** Declares `logits` as the output and wraps the graph in an opset-17 model. */
export function finishModel(d: Draft, logits: string, featureTap: string, lastConvTap: string): BuiltModel {
  if (logits !== 'logits') throw new GraftError('BAD_ARGUMENT', `${d.architecture}: the classifier output must be named "logits", got "${logits}"`);
  d.layers.g.output('logits', 'float32', [d.batch, d.classes]);
  const model = newModel(d.layers.g.graph, 17, { 'graft.architecture': d.architecture, 'graft.init_seed': String(d.seed) });
  return {
    model,
    inputName: 'input',
    outputName: 'logits',
    inputShape: [d.batch, 3, d.inputSize, d.inputSize],
    taps: d.layers.taps,
    featureTap,
    lastConvTap,
  };
}
