/**
 * One ONNX file = every backbone up to its tap + the head + softmax, with labels, preprocessing and provenance in
 * its metadata.
 *
 * Input contract: `pixels`, float32 RGB values 0–255, NHWC [N, H, W, 3] at the size in `graft.preprocess` —
 * what a browser canvas or PIL gives, so nobody re-implements mean/std. Each backbone's own normalisation
 * (x/127.5−1, x/255, ImageNet mean/std), channel order and layout are inside the graph. Resizing and cropping stay
 * outside: `graft.preprocess` says how (`resize`, `resizeTo`, `size`), and its mean 0 / std 1/255 make graft's
 * own loader feed raw pixels.
 */
import { GraphBuilder, cloneGraph } from '../onnx/graph.js';
import { attr, floatTensor, type Graph, type Model } from '../onnx/types.js';
import { writeModel } from '../onnx/codec.js';
import type { GraftModel } from '../models/load.js';
import type { Preprocess } from '../image/preprocess.js';
import { GraftError } from '../util/errors.js';
import type { Backbone } from './extract.js';
import { foldStandardisation, type DenseHead } from './heads.js';

/** Test-time augmentation: 'flip' averages the probabilities of an image and its mirror image. */
export type Tta = 'none' | 'flip';

export interface ExportPart {
  model: GraftModel;
  backbone: Backbone;
}

export interface ExportInfo {
  labels: string[];
  tap: string;
  tta?: Tta;
  extra?: Record<string, string>;
}

export const PIXELS_INPUT = 'pixels';

/** The preprocessing that graft's loader applies for an exported model: resize/crop as the backbone, raw 0–255 RGB NHWC. */
export function rawPixelPreprocess(pre: Preprocess): Preprocess {
  return { ...pre, mean: [0, 0, 0], std: [1 / 255, 1 / 255, 1 / 255], channelOrder: 'rgb', layout: 'NHWC' };
}

/** Builds the classifier graph over raw pixels; features of several backbones are concatenated in order. */
export function classifierModel(parts: ExportPart[], head: DenseHead, info: ExportInfo): Model {
  if (!parts.length) throw new GraftError('BAD_ARGUMENT', 'export: no backbone');
  const first = parts[0].model.preprocess;
  for (const p of parts) {
    const pre = p.model.preprocess;
    if (pre.size[0] !== first.size[0] || pre.size[1] !== first.size[1] || pre.resize !== first.resize || pre.resizeTo !== first.resizeTo) {
      throw new GraftError('BAD_ARGUMENT', `--model: ${p.model.id} takes ${pre.size.join('×')} (${pre.resize}${pre.resizeTo ? ` from ${pre.resizeTo}` : ''}), ${parts[0].model.id} takes ${first.size.join('×')} (${first.resize}${first.resizeTo ? ` from ${first.resizeTo}` : ''}); backbones combined in one file must share the input size and resize rule`);
    }
  }
  const dim = parts.reduce((a, p) => a + p.backbone.dim, 0);
  if (dim !== head.inputDim) throw new GraftError('SHAPE', `export: backbones give ${dim} features, the head expects ${head.inputDim}`);
  const [h, w] = first.size;
  const graph: Graph = { name: 'graft_classifier', nodes: [], initializers: new Map(), inputs: [], outputs: [], valueInfo: [] };
  const b = new GraphBuilder(graph);
  let pixels = b.input(PIXELS_INPUT, 'float32', ['N', h, w, 3]);
  const tta = info.tta ?? 'none';
  if (tta === 'flip') {
    // The mirrored copies go after the originals along the batch axis; the two halves' probabilities are averaged at the end.
    const mirrored = b.op('Slice', [pixels, b.constInt64('tta_starts', [-1]), b.constInt64('tta_ends', [Number.MIN_SAFE_INTEGER]), b.constInt64('tta_axes', [2]), b.constInt64('tta_steps', [-1])], {}, 'tta_mirror');
    pixels = b.op('Concat', [pixels, mirrored], { axis: attr.i(0) }, 'tta_batch');
  }
  const features = parts.map((part, k) => appendBackbone(b, graph, part, pixels, `b${k}/`));
  let x = features.length > 1 ? b.op('Concat', features, { axis: attr.i(1) }, 'features_concat') : features[0];
  const plain = foldStandardisation(head);
  const params = plain.parameters();
  for (let l = 0; l < params.length / 2; l++) {
    const wt = b.initializer(floatTensor(`head.${params[2 * l].name}`, params[2 * l].shape, Float32Array.from(params[2 * l].data)));
    const bias = b.initializer(floatTensor(`head.${params[2 * l + 1].name}`, params[2 * l + 1].shape, Float32Array.from(params[2 * l + 1].data)));
    const last = l === params.length / 2 - 1;
    x = b.node('Gemm', [x, wt, bias], { transB: attr.i(1) }, { name: `head.fc${l}`, outputs: last && tta === 'none' ? ['logits'] : undefined })[0];
    if (!last) x = b.op('Relu', [x], {}, `head.relu${l}`);
  }
  if (tta === 'flip') {
    const [plainLogits, mirroredLogits] = b.node('Split', [x], { axis: attr.i(0) }, { name: 'tta_split', outputs: 2 });
    const probs = [plainLogits, mirroredLogits].map((t) => b.op('Softmax', [t], { axis: attr.i(1) }, 'head.softmax'));
    const mean = b.op('Mul', [b.op('Add', probs, {}, 'tta_sum'), b.constFloat('half', 0.5)], {}, 'tta_mean');
    b.node('Identity', [mean], {}, { name: 'probabilities_out', outputs: ['probabilities'] });
    // Logits of the average: log of the averaged probabilities (softmax of them gives the probabilities back).
    b.node('Log', [mean], {}, { name: 'logits_out', outputs: ['logits'] });
  } else {
    b.node('Softmax', ['logits'], { axis: attr.i(1) }, { name: 'head.softmax', outputs: ['probabilities'] });
  }
  const k = info.labels.length;
  b.output('probabilities', 'float32', ['N', k]);
  b.output('logits', 'float32', ['N', k]);
  const opset = Math.max(13, ...parts.flatMap((p) => p.model.model.opsetImports.filter((o) => o.domain === '' || o.domain === 'ai.onnx').map((o) => o.version)));
  const otherDomains = parts.flatMap((p) => p.model.model.opsetImports.filter((o) => o.domain !== '' && o.domain !== 'ai.onnx'));
  const backbones = parts.map((p) => ({ id: p.model.id, hash: p.model.hash, tap: info.tap, dim: p.backbone.dim, preprocess: p.model.preprocess }));
  return {
    ...parts[0].model.model,
    opsetImports: [{ domain: '', version: opset }, ...otherDomains.filter((o, i) => otherDomains.findIndex((q) => q.domain === o.domain) === i)],
    producerName: 'graft',
    graph,
    metadata: {
      'graft.format': 'classifier/1',
      'graft.labels': JSON.stringify(info.labels),
      'graft.preprocess': JSON.stringify(rawPixelPreprocess(first)),
      'graft.input': pixelInputInfo(first),
      'graft.output': 'probabilities',
      'graft.output_name': 'probabilities',
      'graft.backbone': JSON.stringify(backbones.length === 1 ? { id: backbones[0].id, hash: backbones[0].hash, tap: info.tap } : backbones.map(({ id, hash, tap }) => ({ id, hash, tap }))),
      'graft.backbones': JSON.stringify(backbones),
      'graft.taps': JSON.stringify({ features: features.length > 1 ? 'features_concat' : features[0] }),
      'graft.head': JSON.stringify({ kind: head.kind, hidden: head.hidden }),
      'graft.tta': tta,
      ...info.extra,
    },
  };
}

/** `graft.input` metadata: how to feed the exported `pixels` input (resizing and cropping stay outside the graph). */
function pixelInputInfo(pre: Preprocess): string {
  return JSON.stringify({ name: PIXELS_INPUT, layout: 'NHWC', channels: 'RGB', range: [0, 255], size: pre.size, resize: pre.resize, resizeTo: pre.resizeTo ?? null });
}

/** Raw NHWC RGB 0–255 `pixels` → the network's own input: channel order, value = (pixel/255 − mean[c]) / std[c], layout. */
function normaliseFromPixels(b: GraphBuilder, pixels: string, pre: Preprocess, prefix: string): string {
  const rgb = pre.channelOrder === 'bgr' ? b.node('Gather', [pixels, b.constInt64(`${prefix}bgr`, [2, 1, 0])], { axis: attr.i(3) }, { name: `${prefix}to_bgr` })[0] : pixels;
  // value = pixel·scale[c] + shift[c].
  const scale = pre.std.map((s) => 1 / (255 * s));
  const shift = pre.mean.map((m, c) => -m / pre.std[c]);
  const x = b.op('Add', [b.op('Mul', [rgb, b.constFloat(`${prefix}scale`, scale)], {}, `${prefix}normalise_scale`), b.constFloat(`${prefix}shift`, shift)], {}, `${prefix}normalise_shift`);
  return pre.layout === 'NCHW' ? b.op('Transpose', [x], { perm: attr.ints([0, 3, 1, 2]) }, `${prefix}to_nchw`) : x;
}

/**
 * A trained classifier that takes its network's normalised input (fine-tuned or trained from scratch) with the same
 * input contract as every other export: `pixels`, RGB 0–255 NHWC, normalisation and layout inside the graph.
 * Its metadata's `graft.preprocess` says which normalisation; `graft.network_preprocess` keeps it.
 */
export function withPixelInput(model: Model): Model {
  const [input] = model.graph.inputs;
  if (input.name === PIXELS_INPUT) return model;
  const meta = model.metadata;
  if (!meta['graft.preprocess']) throw new GraftError('BAD_ARGUMENT', 'export: the model has no graft.preprocess metadata to build its pixel input from');
  const pre = JSON.parse(meta['graft.preprocess']) as Preprocess;
  const graph: Graph = { ...model.graph, nodes: [], initializers: new Map(model.graph.initializers), inputs: [], valueInfo: [...model.graph.valueInfo] };
  const b = new GraphBuilder(graph);
  for (const n of model.graph.nodes) {
    for (const o of n.outputs) if (o) b.taken.add(o);
    if (n.name) b.taken.add(n.name);
  }
  const [h, w] = pre.size;
  const pixels = b.input(PIXELS_INPUT, 'float32', ['N', h, w, 3]);
  const x = normaliseFromPixels(b, pixels, pre, 'input/');
  graph.inputs.push(...model.graph.inputs.slice(1));
  graph.nodes.push(...model.graph.nodes.map((n) => ({ ...n, inputs: n.inputs.map((i) => (i === input.name ? x : i)) })));
  return {
    ...model,
    graph,
    metadata: {
      ...meta,
      'graft.preprocess': JSON.stringify(rawPixelPreprocess(pre)),
      'graft.network_preprocess': JSON.stringify(pre),
      'graft.input': pixelInputInfo(pre),
    },
  };
}

/**
 * Copies a backbone graph into `b` with every name prefixed, fed from raw NHWC pixels through its own
 * normalisation; returns its pooled feature tensor.
 */
function appendBackbone(b: GraphBuilder, graph: Graph, part: ExportPart, pixels: string, prefix: string): string {
  const src = cloneGraph(part.backbone.model.graph);
  const rename = (t: string) => (t ? prefix + t : t);
  const x = normaliseFromPixels(b, pixels, part.model.preprocess, prefix);
  for (const [name, t] of src.initializers) graph.initializers.set(rename(name), { ...t, name: rename(name) });
  for (const n of src.nodes) {
    graph.nodes.push({ ...n, name: n.name ? rename(n.name) : n.name, inputs: n.inputs.map((i) => (i === part.backbone.inputName ? x : rename(i))), outputs: n.outputs.map(rename) });
    for (const o of n.outputs) if (o) b.taken.add(rename(o));
  }
  for (const name of src.initializers.keys()) b.taken.add(rename(name));
  return rename(part.backbone.output);
}

/**
 * The head appended to ONE backbone graph, keeping the backbone's own (normalised) input: the network that
 * fine-tuning trains end to end, whose layer names must stay the backbone's. Its metadata describes that input.
 */
export function classifierOnBackbone(backbone: Backbone, head: DenseHead, info: ExportInfo & { backbone: GraftModel }): Model {
  const graph = { ...backbone.model.graph, nodes: [...backbone.model.graph.nodes], initializers: new Map(backbone.model.graph.initializers), outputs: [] as Model['graph']['outputs'] };
  const b = new GraphBuilder(graph);
  const params = foldStandardisation(head).parameters();
  let x = backbone.output;
  for (let l = 0; l < params.length / 2; l++) {
    const wt = b.initializer(floatTensor(`head.${params[2 * l].name}`, params[2 * l].shape, Float32Array.from(params[2 * l].data)));
    const bias = b.initializer(floatTensor(`head.${params[2 * l + 1].name}`, params[2 * l + 1].shape, Float32Array.from(params[2 * l + 1].data)));
    const last = l === params.length / 2 - 1;
    x = b.node('Gemm', [x, wt, bias], { transB: attr.i(1) }, { name: `head.fc${l}`, outputs: last ? ['logits'] : undefined })[0];
    if (!last) x = b.op('Relu', [x], {}, `head.relu${l}`);
  }
  b.node('Softmax', ['logits'], { axis: attr.i(1) }, { name: 'head.softmax', outputs: ['probabilities'] });
  const k = info.labels.length;
  b.output('probabilities', 'float32', ['N', k]);
  b.output('logits', 'float32', ['N', k]);
  const opset = Math.max(13, ...backbone.model.opsetImports.filter((o) => o.domain === '' || o.domain === 'ai.onnx').map((o) => o.version));
  return {
    ...backbone.model,
    opsetImports: backbone.model.opsetImports.map((o) => (o.domain === '' || o.domain === 'ai.onnx' ? { ...o, version: opset } : o)),
    producerName: 'graft',
    graph,
    metadata: {
      'graft.format': 'classifier/1',
      'graft.labels': JSON.stringify(info.labels),
      'graft.preprocess': JSON.stringify(info.backbone.preprocess),
      'graft.output': 'probabilities',
      'graft.output_name': 'probabilities',
      'graft.backbone': JSON.stringify({ id: info.backbone.id, hash: info.backbone.hash, tap: info.tap }),
      'graft.taps': JSON.stringify({ features: backbone.output, ...(info.backbone.taps.lastConv ? { lastConv: info.backbone.taps.lastConv } : {}) }),
      'graft.head': JSON.stringify({ kind: head.kind, hidden: head.hidden }),
      ...info.extra,
    },
  };
}

export async function exportClassifier(file: string, parts: ExportPart[], head: DenseHead, info: ExportInfo): Promise<Model> {
  const model = classifierModel(parts, head, info);
  await writeModel(model, file);
  return model;
}
