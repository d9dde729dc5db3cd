/** One ONNX file = backbone up to the tap + head + softmax, with labels, preprocessing and provenance in its metadata. */
import { GraphBuilder } from '../onnx/graph.js';
import { attr, floatTensor, type Model } from '../onnx/types.js';
import { writeModel } from '../onnx/codec.js';
import type { GraftModel } from '../models/load.js';
import type { Backbone } from './extract.js';
import { foldStandardisation, type DenseHead } from './heads.js';

export interface ExportInfo {
  labels: string[];
  backbone: GraftModel;
  tap: string;
  extra?: Record<string, string>;
}

/** Appends the dense head (Gemm/ReLU …) and Softmax to the backbone graph; outputs `probabilities` (and `logits`). */
export function classifierModel(backbone: Backbone, head: DenseHead, info: ExportInfo): Model {
  const graph = { ...backbone.model.graph, nodes: [...backbone.model.graph.nodes], initializers: new Map(backbone.model.graph.initializers), outputs: [] as Model['graph']['outputs'] };
  const b = new GraphBuilder(graph);
  const plain = foldStandardisation(head);
  const params = plain.parameters();
  let x = backbone.output;
  for (let l = 0; l < params.length / 2; l++) {
    const w = b.initializer(floatTensor(`head.${params[2 * l].name}`, params[2 * l].shape, Float32Array.from(params[2 * l].data)));
    const bias = b.initializer(floatTensor(`head.${params[2 * l + 1].name}`, params[2 * l + 1].shape, Float32Array.from(params[2 * l + 1].data)));
    const last = l === params.length / 2 - 1;
    x = b.node('Gemm', [x, w, bias], { transB: attr.i(1) }, { name: `head.fc${l}`, outputs: last ? ['logits'] : undefined })[0];
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

export async function exportClassifier(file: string, backbone: Backbone, head: DenseHead, info: ExportInfo): Promise<Model> {
  const model = classifierModel(backbone, head, info);
  await writeModel(model, file);
  return model;
}
