/** TF.js layers model → ONNX: NHWC input, NCHW inside, every layer's output tensor named after the layer. */
import path from 'node:path';
import { GraphBuilder } from '../../onnx/graph.js';
import { attr, emptyGraph, newModel, type Model } from '../../onnx/types.js';
import { GraftError } from '../../util/errors.js';
import { ConvertContext, NCHW_TO_NHWC, NHWC_TO_NCHW, type Shape, type Value } from './context.js';
import { LAYER_EMITTERS } from './layers.js';
import { readTfjsModel, type KerasLayer, type KerasModel, type KerasRef } from './read.js';

export interface ConvertedLayer {
  /** The Keras layer name. */
  name: string;
  className: string;
  /** The ONNX tensor holding the layer's output (NCHW for 4-D outputs). */
  tensor: string;
}

export interface ConvertedTfjsModel {
  model: Model;
  inputName: string;
  outputName: string;
  layers: ConvertedLayer[];
}

export const INPUT_NAME = 'input';

/** Converts the TF.js layers model at `modelJsonPath` into an ONNX model (opset 17). */
export async function convertTfjsModel(modelJsonPath: string): Promise<ConvertedTfjsModel> {
  const tfjs = await readTfjsModel(modelJsonPath);
  const graph = emptyGraph(tfjs.model.name);
  const ctx = new ConvertContext(new GraphBuilder(graph), tfjs.weights, modelJsonPath);
  const converter = new ModelConverter(ctx);

  const spec = inputSpec(tfjs.model, modelJsonPath);
  ctx.b.input(INPUT_NAME, 'float32', spec.shape.map((d, i) => (i === 0 ? 'N' : d)));
  const entryName = ctx.tmp(spec.layerName ?? `${INPUT_NAME}_nchw`);
  if (spec.shape.length === 4) ctx.emit('Transpose', [INPUT_NAME], entryName, { perm: attr.ints(NHWC_TO_NCHW) });
  else ctx.emit('Identity', [INPUT_NAME], entryName);
  const entry = { name: entryName, shape: spec.shape };
  ctx.describe(entry);

  const outputs = converter.apply(tfjs.model, [entry], '');
  if (outputs.length !== 1) throw new GraftError('MODEL_FORMAT', `${modelJsonPath}: models with ${outputs.length} outputs are not supported (only one)`);
  const result = outputs[0];
  let outputName = result.name;
  if (result.shape.length === 4) {
    outputName = ctx.emit('Transpose', [result.name], ctx.tmp(`${result.name}_nhwc`), { perm: attr.ints(NCHW_TO_NHWC) });
  }
  ctx.b.output(outputName, 'float32', result.shape.map((d, i) => (i === 0 ? 'N' : d)));
  graph.valueInfo = graph.valueInfo.filter((v) => v.name !== outputName);

  const model = newModel(graph, 17, { 'graft.source': `tfjs-layers:${path.basename(path.dirname(modelJsonPath))}`, 'graft.input_layout': 'NHWC' });
  return { model, inputName: INPUT_NAME, outputName, layers: converter.layers };
}

/** The model's input shape (Keras, batch first) and, if it has one, the name of its InputLayer. */
function inputSpec(model: KerasModel, file: string): { shape: Shape; layerName?: string } {
  if (model.kind === 'functional') {
    if (model.inputs.length !== 1) throw new GraftError('MODEL_FORMAT', `${file}: models with ${model.inputs.length} inputs are not supported (only one)`);
    const layer = model.layers.find((l) => l.name === model.inputs[0].layer);
    if (!layer) throw new GraftError('MODEL_FORMAT', `${file}: input layer "${model.inputs[0].layer}" is missing`);
    if (layer.model) return inputSpec(layer.model, file);
    return { shape: batchShape(layer, file), layerName: layer.name };
  }
  const first = model.layers[0];
  if (!first) throw new GraftError('MODEL_FORMAT', `${file}: Sequential "${model.name}" has no layers`);
  if (first.model) return inputSpec(first.model, file);
  // Keras names the implicit input of a Sequential "<first layer>_input"
  return { shape: batchShape(first, file), layerName: first.className === 'InputLayer' ? first.name : `${first.name}_input` };
}

function batchShape(layer: KerasLayer, file: string): Shape {
  const c = layer.config;
  const shape = (c.batch_input_shape ?? c.batch_shape ?? (Array.isArray(c.input_shape) ? [null, ...c.input_shape] : undefined)) as Shape | undefined;
  if (!shape) throw new GraftError('MODEL_FORMAT', `${file}: ${layer.className} "${layer.name}" declares no input shape`);
  return shape.map((d) => (d === undefined ? null : d));
}

/** Walks Sequential and functional topologies (recursively for nested models), emitting each layer. */
class ModelConverter {
  readonly layers: ConvertedLayer[] = [];

  constructor(private readonly ctx: ConvertContext) {}

  /** Applies `model` to `inputs`; `scope` names the enclosing nested model (used only to resolve name collisions). */
  apply(model: KerasModel, inputs: Value[], scope: string): Value[] {
    return model.kind === 'sequential' ? this.applySequential(model, inputs, scope) : this.applyFunctional(model, inputs, scope);
  }

  private applySequential(model: KerasModel, inputs: Value[], scope: string): Value[] {
    let current = inputs;
    for (const layer of model.layers) {
      if (layer.className === 'InputLayer') this.record(layer, current[0]);
      else current = this.applyLayer(layer, current, scope);
    }
    return current;
  }

  private applyFunctional(model: KerasModel, inputs: Value[], scope: string): Value[] {
    const file = this.ctx.file;
    if (inputs.length !== model.inputs.length) throw new GraftError('MODEL_FORMAT', `${file}: model "${model.name}" takes ${model.inputs.length} inputs, got ${inputs.length}`);
    const produced = new Map<string, Value[]>();
    const key = (layer: string, node: number): string => `${layer}#${node}`;
    model.inputs.forEach((ref, i) => {
      produced.set(key(ref.layer, ref.nodeIndex), [inputs[i]]);
      const layer = model.layers.find((l) => l.name === ref.layer);
      if (layer) this.record(layer, inputs[i]);
    });
    const lookup = (ref: KerasRef): Value | undefined => produced.get(key(ref.layer, ref.nodeIndex))?.[ref.tensorIndex];

    let pending = model.layers.flatMap((layer) => layer.inboundNodes.map((refs, node) => ({ layer, node, refs })));
    while (pending.length) {
      const ready = pending.find((p) => p.refs.every((r) => lookup(r)));
      if (!ready) {
        const missing = pending[0].refs.find((r) => !lookup(r))!;
        throw new GraftError('MODEL_FORMAT', `${file}: layer "${pending[0].layer.name}" needs the output of "${missing.layer}" (call ${missing.nodeIndex}), which no layer of "${model.name}" produces`);
      }
      produced.set(key(ready.layer.name, ready.node), this.applyLayer(ready.layer, ready.refs.map((r) => lookup(r)!), scope));
      pending = pending.filter((p) => p !== ready);
    }
    return model.outputs.map((ref) => {
      const v = lookup(ref);
      if (!v) throw new GraftError('MODEL_FORMAT', `${file}: output "${ref.layer}" of model "${model.name}" is never computed`);
      return v;
    });
  }

  private applyLayer(layer: KerasLayer, inputs: Value[], scope: string): Value[] {
    if (layer.model) {
      const outputs = this.apply(layer.model, inputs, layer.model.name);
      this.record(layer, outputs[0]);
      return outputs;
    }
    const emit = LAYER_EMITTERS[layer.className];
    if (!emit) throw new GraftError('UNSUPPORTED_LAYER', `unsupported Keras layer ${layer.className} "${layer.name}" in ${this.ctx.file}`);
    const out = emit(this.ctx, layer, inputs, this.outputName(layer.name, scope));
    this.ctx.describe(out);
    this.record(layer, out);
    return [out];
  }

  /** The layer's own name; inside a nested model a colliding name gets the model's name as prefix. */
  private outputName(layerName: string, scope: string): string {
    if (!this.ctx.b.taken.has(layerName) || !scope) return this.ctx.tmp(layerName);
    return this.ctx.tmp(`${scope}/${layerName}`);
  }

  private record(layer: KerasLayer, value: Value): void {
    this.layers.push({ name: layer.name, className: layer.className, tensor: value.name });
  }
}
