/** A layer-by-layer summary of a model: name, op, output shape, parameters, and totals (Keras `summary()` style). */
import { inferShapes } from '../onnx/shapes.js';
import { parameterCount, weightInitializers } from '../onnx/graph.js';
import { topoSort } from '../onnx/order.js';
import { opsetOf, type Dim } from '../onnx/types.js';
import type { GraftModel } from './load.js';

export interface LayerSummary { name: string; op: string; outputShape: Dim[] | undefined; parameters: number }
export interface ModelSummary {
  model: string;
  source: string;
  opset: number;
  input: { name: string; shape: Dim[] | undefined };
  output: { name: string; shape: Dim[] | undefined; kind: string };
  layers: LayerSummary[];
  /** Trainable parameters (torchvision counting: BatchNorm running statistics excluded). */
  parameters: number;
  batchNormStatistics: number;
  classes: number;
}

const STRUCTURAL = new Set(['Shape', 'Gather', 'Unsqueeze', 'Concat', 'Constant', 'Cast', 'Squeeze', 'Slice', 'ConstantOfShape']);

export function summarize(m: GraftModel): ModelSummary {
  const g = m.model.graph;
  const info = inferShapes(g);
  const { weights } = weightInitializers(g);
  const layers: LayerSummary[] = [];
  for (const n of topoSort(g)) {
    if (STRUCTURAL.has(n.opType)) continue;
    let parameters = 0;
    for (const i of n.inputs) {
      if (weights.has(i)) parameters += g.initializers.get(i)!.dims.reduce((a, b) => a * b, 1);
    }
    layers.push({ name: n.name || n.outputs[0], op: n.opType, outputShape: info.get(n.outputs[0])?.shape, parameters });
  }
  const counts = parameterCount(g);
  const input = g.inputs.find((i) => i.name === m.inputName)!;
  return {
    model: m.id,
    source: m.source,
    opset: opsetOf(m.model),
    input: { name: input.name, shape: info.get(input.name)?.shape },
    output: { name: m.outputName, shape: info.get(m.outputName)?.shape, kind: m.output },
    layers,
    parameters: counts.trainable,
    batchNormStatistics: counts.batchNormStats,
    classes: m.labels.length,
  };
}

const fmtShape = (s: Dim[] | undefined) => (s ? `[${s.map((d) => d ?? '?').join(', ')}]` : '?');

export function formatSummary(s: ModelSummary): string {
  const rows = s.layers.map((l) => [l.name, l.op, fmtShape(l.outputShape), l.parameters.toLocaleString('en-US')]);
  const head = ['layer', 'op', 'output shape', 'params'];
  const widths = head.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k].length)));
  const line = (r: string[]) => r.map((c, k) => (k === 3 ? c.padStart(widths[k]) : c.padEnd(widths[k]))).join('  ');
  return [
    `model ${s.model}  (${s.source}, opset ${s.opset})`,
    `input ${s.input.name} ${fmtShape(s.input.shape)}  →  output ${s.output.name} ${fmtShape(s.output.shape)} (${s.output.kind}, ${s.classes} classes)`,
    '',
    line(head),
    widths.map((w) => '─'.repeat(w)).join('  '),
    ...rows.map(line),
    '',
    `total parameters: ${s.parameters.toLocaleString('en-US')}` + (s.batchNormStatistics ? `  (+ ${s.batchNormStatistics.toLocaleString('en-US')} BatchNorm running statistics, not trainable)` : ''),
  ].join('\n');
}
