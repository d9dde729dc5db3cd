/** One emitter per supported Keras layer class: Keras semantics on NCHW-stored 4-D tensors. */
import { attr, type Attribute } from '../../onnx/types.js';
import { GraftError } from '../../util/errors.js';
import { activationName, applyActivation, clip } from './activations.js';
import { NHWC_TO_NCHW, permute, storedAxis, type ConvertContext, type Shape, type Value } from './context.js';
import type { KerasLayer } from './read.js';

/** Converts one call of a layer: `inputs` in, a Value named `out` (already reserved) back. */
export type LayerEmitter = (ctx: ConvertContext, layer: KerasLayer, inputs: Value[], out: string) => Value;

type Config = Record<string, unknown>;

function where(layer: KerasLayer): string {
  return `${layer.className} "${layer.name}"`;
}

function fail(ctx: ConvertContext, layer: KerasLayer, why: string): never {
  throw new GraftError('UNSUPPORTED_LAYER', `unsupported Keras layer ${where(layer)} in ${ctx.file}: ${why}`);
}

function one(ctx: ConvertContext, layer: KerasLayer, inputs: Value[], rank?: number): Value {
  if (inputs.length !== 1) fail(ctx, layer, `expected one input, got ${inputs.length}`);
  const x = inputs[0];
  if (rank !== undefined && x.shape.length !== rank) fail(ctx, layer, `expected a rank-${rank} input, got shape [${x.shape.join(', ')}]`);
  return x;
}

function pair(v: unknown, fallback: number): [number, number] {
  if (v == null) return [fallback, fallback];
  if (typeof v === 'number') return [v, v];
  const a = v as number[];
  return [a[0], a[1] ?? a[0]];
}

function channelsLast(ctx: ConvertContext, layer: KerasLayer): void {
  const format = layer.config.data_format;
  if (format != null && format !== 'channels_last') fail(ctx, layer, `data_format ${String(format)} (only channels_last)`);
}

function numberOr(v: unknown, fallback: number): number {
  return typeof v === 'number' ? v : fallback;
}

interface Window {
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  padding: string;
}

/**
 * Spatial output size and ONNX pad attributes for TF's "valid"/"same". TF's SAME puts the odd extra pad
 * at the end (= SAME_UPPER); with a static input size the pads are explicit, otherwise auto_pad.
 */
function windowGeometry(ctx: ConvertContext, layer: KerasLayer, x: Value, w: Window): { hw: [number | null, number | null]; attrs: Record<string, Attribute> } {
  const attrs: Record<string, Attribute> = { kernel_shape: attr.ints(w.kernel), strides: attr.ints(w.strides) };
  const inHW = [x.shape[1], x.shape[2]];
  const effective = w.kernel.map((k, i) => (k - 1) * w.dilations[i] + 1);
  if (w.padding === 'valid') {
    const hw = inHW.map((n, i) => (n === null ? null : Math.floor((n - effective[i]) / w.strides[i]) + 1));
    if (hw.some((n) => n !== null && n < 1)) fail(ctx, layer, `input [${inHW.join('×')}] is smaller than the window`);
    return { hw: hw as [number | null, number | null], attrs: { ...attrs, pads: attr.ints([0, 0, 0, 0]) } };
  }
  if (w.padding !== 'same') fail(ctx, layer, `padding "${w.padding}"`);
  const hw = inHW.map((n, i) => (n === null ? null : Math.ceil(n / w.strides[i])));
  if (hw.some((n) => n === null)) return { hw: hw as [number | null, number | null], attrs: { ...attrs, auto_pad: attr.s('SAME_UPPER') } };
  const total = hw.map((o, i) => Math.max((o! - 1) * w.strides[i] + effective[i] - inHW[i]!, 0));
  const before = total.map((t) => Math.floor(t / 2));
  return { hw: hw as [number, number], attrs: { ...attrs, pads: attr.ints([before[0], before[1], total[0] - before[0], total[1] - before[1]]) } };
}

function convWindow(cfg: Config): Window {
  return {
    kernel: pair(cfg.kernel_size, 1),
    strides: pair(cfg.strides, 1),
    dilations: pair(cfg.dilation_rate, 1),
    padding: String(cfg.padding ?? 'valid'),
  };
}

/** The pre-activation output name: the layer's own name when the activation is linear. */
function preActivation(ctx: ConvertContext, kind: string, out: string): string {
  return kind === 'linear' ? out : ctx.tmp(`${out}/preact`);
}

function biasInput(ctx: ConvertContext, layer: KerasLayer): string[] {
  if (layer.config.use_bias === false) return [];
  const b = ctx.weight(layer, 'bias');
  return [ctx.init(`${layer.name}/bias`, [b.data.length], b.data)];
}

function conv2d(ctx: ConvertContext, layer: KerasLayer, inputs: Value[], out: string): Value {
  const x = one(ctx, layer, inputs, 4);
  channelsLast(ctx, layer);
  const w = convWindow(layer.config);
  const groups = numberOr(layer.config.groups, 1);
  const k = ctx.weight(layer, 'kernel'); // [kh, kw, cin/groups, cout]
  const kt = permute(k.data, k.shape, [3, 2, 0, 1]);
  const geo = windowGeometry(ctx, layer, x, w);
  const act = activationName(layer.config.activation);
  const pre = preActivation(ctx, act, out);
  const kernel = ctx.init(`${layer.name}/kernel`, kt.dims, kt.data);
  ctx.emit('Conv', [x.name, kernel, ...biasInput(ctx, layer)], pre, { ...geo.attrs, dilations: attr.ints(w.dilations), group: attr.i(groups) });
  return applyActivation(ctx, act, { name: pre, shape: [null, ...geo.hw, k.shape[3]] }, out, where(layer));
}

/** A grouped Conv with one group per input channel; Keras orders output channels as c·multiplier + m. */
function depthwise(ctx: ConvertContext, layer: KerasLayer, x: Value, param: string, out: string, withBias: boolean): Value {
  const w = convWindow(layer.config);
  const k = ctx.weight(layer, param); // [kh, kw, cin, multiplier]
  const [kh, kw, cin, mult] = k.shape;
  const kt = permute(k.data, k.shape, [2, 3, 0, 1]);
  const geo = windowGeometry(ctx, layer, x, w);
  const kernel = ctx.init(`${layer.name}/${param}`, [cin * mult, 1, kh, kw], kt.data);
  const bias = withBias ? biasInput(ctx, layer) : [];
  ctx.emit('Conv', [x.name, kernel, ...bias], out, { ...geo.attrs, dilations: attr.ints(w.dilations), group: attr.i(cin) });
  return { name: out, shape: [null, ...geo.hw, cin * mult] };
}

function depthwiseConv2d(ctx: ConvertContext, layer: KerasLayer, inputs: Value[], out: string): Value {
  const x = one(ctx, layer, inputs, 4);
  channelsLast(ctx, layer);
  const act = activationName(layer.config.activation);
  const y = depthwise(ctx, layer, x, 'depthwise_kernel', preActivation(ctx, act, out), true);
  return applyActivation(ctx, act, y, out, where(layer));
}

function separableConv2d(ctx: ConvertContext, layer: KerasLayer, inputs: Value[], out: string): Value {
  const x = one(ctx, layer, inputs, 4);
  channelsLast(ctx, layer);
  const dw = depthwise(ctx, layer, x, 'depthwise_kernel', ctx.tmp(`${out}/depthwise`), false);
  const k = ctx.weight(layer, 'pointwise_kernel'); // [1, 1, cin·multiplier, cout]
  const kt = permute(k.data, k.shape, [3, 2, 0, 1]);
  const act = activationName(layer.config.activation);
  const pre = preActivation(ctx, act, out);
  const kernel = ctx.init(`${layer.name}/pointwise_kernel`, kt.dims, kt.data);
  ctx.emit('Conv', [dw.name, kernel, ...biasInput(ctx, layer)], pre, { kernel_shape: attr.ints([1, 1]) });
  return applyActivation(ctx, act, { name: pre, shape: [...dw.shape.slice(0, 3), k.shape[3]] }, out, where(layer));
}

function batchNorm(ctx: ConvertContext, layer: KerasLayer, inputs: Value[], out: string): Value {
  const x = one(ctx, layer, inputs);
  const rank = x.shape.length;
  const axis = numberOr(Array.isArray(layer.config.axis) && layer.config.axis.length === 1 ? layer.config.axis[0] : layer.config.axis, -1);
  if ((rank !== 2 && rank !== 4) || storedAxis(axis, rank) !== 1) fail(ctx, layer, `normalising axis ${JSON.stringify(layer.config.axis)} of a rank-${rank} tensor (only the channel axis of 2-D/4-D tensors)`);
  const mean = ctx.weight(layer, 'moving_mean');
  const c = mean.data.length;
  const param = (name: string, enabled: boolean, fill: number): string => {
    const data = enabled ? ctx.weight(layer, name).data : new Float32Array(c).fill(fill);
    return ctx.init(`${layer.name}/${name}`, [c], data);
  };
  const scale = param('gamma', layer.config.scale !== false, 1);
  const bias = param('beta', layer.config.center !== false, 0);
  const variance = ctx.weight(layer, 'moving_variance');
  const inputsBn = [x.name, scale, bias, ctx.init(`${layer.name}/moving_mean`, [c], mean.data), ctx.init(`${layer.name}/moving_variance`, [c], variance.data)];
  ctx.emit('BatchNormalization', inputsBn, out, { epsilon: attr.f(numberOr(layer.config.epsilon, 1e-3)) });
  return { name: out, shape: x.shape };
}

function activationLayer(ctx: ConvertContext, layer: KerasLayer, inputs: Value[], out: string): Value {
  return applyActivation(ctx, activationName(layer.config.activation), one(ctx, layer, inputs), out, where(layer));
}

/** Keras ReLU: max_value above max_value, x on [threshold, max_value), negative_slope·(x − threshold) below. */
function relu(ctx: ConvertContext, layer: KerasLayer, inputs: Value[], out: string): Value {
  const x = one(ctx, layer, inputs);
  const max = typeof layer.config.max_value === 'number' ? layer.config.max_value : undefined;
  const slope = numberOr(layer.config.negative_slope, 0);
  const threshold = numberOr(layer.config.threshold, 0);
  if (slope === 0 && threshold === 0) return max === undefined ? applyActivation(ctx, 'relu', x, out, where(layer)) : clip(ctx, x, 0, max, out);
  const body = max === undefined ? out : ctx.tmp(`${out}/unclipped`);
  if (threshold === 0) {
    ctx.emit('LeakyRelu', [x.name], body, { alpha: attr.f(slope) });
  } else {
    const thr = ctx.b.constFloat(`${out}/threshold`, threshold);
    const above = ctx.emit('GreaterOrEqual', [x.name, thr], ctx.tmp(`${out}/above`));
    const shifted = ctx.emit('Sub', [x.name, thr], ctx.tmp(`${out}/shifted`));
    const below = ctx.emit('Mul', [shifted, ctx.b.constFloat(`${out}/slope`, slope)], ctx.tmp(`${out}/below`));
    ctx.emit('Where', [above, x.name, below], body);
  }
  if (max !== undefined) ctx.emit('Min', [body, ctx.b.constFloat(`${out}/max`, max)], out);
  return { name: out, shape: x.shape };
}

function leakyRelu(ctx: ConvertContext, layer: KerasLayer, inputs: Value[], out: string): Value {
  const x = one(ctx, layer, inputs);
  const alpha = numberOr(layer.config.alpha ?? layer.config.negative_slope, 0.3);
  ctx.emit('LeakyRelu', [x.name], out, { alpha: attr.f(alpha) });
  return { name: out, shape: x.shape };
}

function elu(ctx: ConvertContext, layer: KerasLayer, inputs: Value[], out: string): Value {
  const x = one(ctx, layer, inputs);
  ctx.emit('Elu', [x.name], out, { alpha: attr.f(numberOr(layer.config.alpha, 1)) });
  return { name: out, shape: x.shape };
}

function softmaxLayer(ctx: ConvertContext, layer: KerasLayer, inputs: Value[], out: string): Value {
  const x = one(ctx, layer, inputs);
  const axis = Array.isArray(layer.config.axis) ? (layer.config.axis.length === 1 ? layer.config.axis[0] as number : fail(ctx, layer, 'softmax over several axes')) : numberOr(layer.config.axis, -1);
  ctx.emit('Softmax', [x.name], out, { axis: attr.i(storedAxis(axis, x.shape.length)) });
  return { name: out, shape: x.shape };
}

function zeroPadding2d(ctx: ConvertContext, layer: KerasLayer, inputs: Value[], out: string): Value {
  const x = one(ctx, layer, inputs, 4);
  channelsLast(ctx, layer);
  const p = layer.config.padding ?? 1;
  const [[top, bottom], [left, right]] = typeof p === 'number'
    ? [[p, p], [p, p]]
    : (p as (number | number[])[]).map((e) => (typeof e === 'number' ? [e, e] : e)) as [number[], number[]];
  const pads = ctx.b.constInt64(`${out}/pads`, [0, 0, top, left, 0, 0, bottom, right]);
  ctx.emit('Pad', [x.name, pads], out, { mode: attr.s('constant') });
  const [, h, w, c] = x.shape;
  return { name: out, shape: [null, h === null ? null : h + top + bottom, w === null ? null : w + left + right, c] };
}

function pooling(op: 'MaxPool' | 'AveragePool'): LayerEmitter {
  return (ctx, layer, inputs, out) => {
    const x = one(ctx, layer, inputs, 4);
    channelsLast(ctx, layer);
    const kernel = pair(layer.config.pool_size, 2);
    const strides = layer.config.strides == null ? kernel : pair(layer.config.strides, 1);
    const geo = windowGeometry(ctx, layer, x, { kernel, strides, dilations: [1, 1], padding: String(layer.config.padding ?? 'valid') });
    // TF averages over the window's in-bounds elements only
    const extra: Record<string, Attribute> = op === 'AveragePool' ? { count_include_pad: attr.i(0) } : {};
    ctx.emit(op, [x.name], out, { ...geo.attrs, ...extra });
    return { name: out, shape: [null, ...geo.hw, x.shape[3]] };
  };
}

function globalPooling(op: 'GlobalAveragePool' | 'GlobalMaxPool'): LayerEmitter {
  return (ctx, layer, inputs, out) => {
    const x = one(ctx, layer, inputs, 4);
    channelsLast(ctx, layer);
    const c = x.shape[3];
    if (layer.config.keepdims === true) {
      ctx.emit(op, [x.name], out);
      return { name: out, shape: [null, 1, 1, c] };
    }
    const pooled = ctx.emit(op, [x.name], ctx.tmp(`${out}/pooled`));
    ctx.emit('Flatten', [pooled], out, { axis: attr.i(1) });
    return { name: out, shape: [null, c] };
  };
}

function dense(ctx: ConvertContext, layer: KerasLayer, inputs: Value[], out: string): Value {
  const x = one(ctx, layer, inputs);
  const k = ctx.weight(layer, 'kernel'); // [in, units]
  const units = k.shape[1];
  const kernel = ctx.init(`${layer.name}/kernel`, k.shape, k.data);
  const act = activationName(layer.config.activation);
  const pre = preActivation(ctx, act, out);
  const shape: Shape = [...x.shape.slice(0, -1), units];
  if (x.shape.length === 2) {
    ctx.emit('Gemm', [x.name, kernel, ...biasInput(ctx, layer)], pre);
  } else {
    // Keras applies Dense to the last axis: work channels-last, then return to the stored layout.
    const rank4 = x.shape.length === 4;
    const bias = biasInput(ctx, layer);
    const linear = bias.length || rank4 ? ctx.tmp(`${out}/matmul`) : pre;
    ctx.emit('MatMul', [ctx.toKerasOrder(x), kernel], linear);
    const biased = bias.length ? ctx.emit('Add', [linear, bias[0]], rank4 ? ctx.tmp(`${out}/biased`) : pre) : linear;
    if (rank4) ctx.emit('Transpose', [biased], pre, { perm: attr.ints(NHWC_TO_NCHW) });
  }
  return applyActivation(ctx, act, { name: pre, shape }, out, where(layer));
}

function product(dims: Shape): number | null {
  return dims.every((d) => d !== null) ? (dims as number[]).reduce((a, b) => a * b, 1) : null;
}

function flatten(ctx: ConvertContext, layer: KerasLayer, inputs: Value[], out: string): Value {
  const x = one(ctx, layer, inputs);
  ctx.emit('Flatten', [ctx.toKerasOrder(x, true)], out, { axis: attr.i(1) });
  return { name: out, shape: [null, product(x.shape.slice(1))] };
}

function reshape(ctx: ConvertContext, layer: KerasLayer, inputs: Value[], out: string): Value {
  const x = one(ctx, layer, inputs);
  const raw = (layer.config.target_shape as (number | null)[] | undefined) ?? fail(ctx, layer, 'no target_shape');
  // tfjs writes the inferred dimension as null
  const target = raw.map((d) => d ?? -1);
  const size = product(x.shape.slice(1));
  const known = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const shape: Shape = [null, ...target.map((d) => (d === -1 ? (size === null ? null : size / known) : d))];
  if (size !== null && product(shape.slice(1)) !== size) fail(ctx, layer, `cannot reshape [${x.shape.slice(1).join(', ')}] to [${target.join(', ')}]`);
  const src = ctx.toKerasOrder(x, true);
  // a leading 0 copies the batch dimension
  if (shape.length !== 4) {
    ctx.emit('Reshape', [src, ctx.b.constInt64(`${out}/shape`, [0, ...target])], out);
    return { name: out, shape };
  }
  const [, h, w, c] = shape;
  if (h !== null && w !== null && c !== null && (h * w === 1 || c === 1)) {
    // NHWC and NCHW have the same element order here: reshape straight to the stored dims
    ctx.emit('Reshape', [src, ctx.b.constInt64(`${out}/shape`, [0, c, h, w])], out);
    return { name: out, shape };
  }
  const nhwc = ctx.emit('Reshape', [src, ctx.b.constInt64(`${out}/shape`, [0, ...target])], ctx.tmp(`${out}/nhwc`));
  ctx.emit('Transpose', [nhwc], out, { perm: attr.ints(NHWC_TO_NCHW) });
  return { name: out, shape };
}

function identity(ctx: ConvertContext, layer: KerasLayer, inputs: Value[], out: string): Value {
  const x = one(ctx, layer, inputs);
  ctx.emit('Identity', [x.name], out);
  return { name: out, shape: x.shape };
}

/** Elementwise merges (same-rank inputs, so their stored layouts agree); `variadic` takes any number of inputs. */
function merge(op: 'Add' | 'Sub' | 'Mul' | 'Mean' | 'Max' | 'Min', variadic?: 'Sum' | 'Mean' | 'Max' | 'Min'): LayerEmitter {
  return (ctx, layer, inputs, out) => {
    if (inputs.length < 2) fail(ctx, layer, `expected at least two inputs, got ${inputs.length}`);
    if (op === 'Sub' && inputs.length !== 2) fail(ctx, layer, `expected exactly two inputs, got ${inputs.length}`);
    const rank = inputs[0].shape.length;
    if (inputs.some((v) => v.shape.length !== rank)) fail(ctx, layer, `inputs of different ranks: ${inputs.map((v) => `[${v.shape.join(', ')}]`).join(', ')}`);
    const shape = inputs[0].shape.map((_, i) => inputs.map((v) => v.shape[i]).find((d) => d !== 1) ?? 1);
    if (inputs.length === 2 || variadic) {
      ctx.emit(inputs.length === 2 ? op : variadic!, inputs.map((v) => v.name), out);
      return { name: out, shape };
    }
    let acc = inputs[0].name;
    inputs.slice(1).forEach((v, i) => {
      acc = ctx.emit(op, [acc, v.name], i === inputs.length - 2 ? out : ctx.tmp(`${out}/partial`));
    });
    return { name: out, shape };
  };
}

function concatenate(ctx: ConvertContext, layer: KerasLayer, inputs: Value[], out: string): Value {
  if (inputs.length < 2) fail(ctx, layer, `expected at least two inputs, got ${inputs.length}`);
  const rank = inputs[0].shape.length;
  const axis = numberOr(layer.config.axis, -1);
  const a = axis < 0 ? axis + rank : axis;
  const shape = [...inputs[0].shape];
  shape[a] = inputs.every((v) => v.shape[a] !== null) ? inputs.reduce((s, v) => s + v.shape[a]!, 0) : null;
  ctx.emit('Concat', inputs.map((v) => v.name), out, { axis: attr.i(storedAxis(axis, rank)) });
  return { name: out, shape };
}

function rescaling(ctx: ConvertContext, layer: KerasLayer, inputs: Value[], out: string): Value {
  const x = one(ctx, layer, inputs);
  const scale = layer.config.scale;
  const offset = layer.config.offset ?? 0;
  if (typeof scale !== 'number' || typeof offset !== 'number') fail(ctx, layer, 'only scalar scale and offset');
  const scaled = ctx.emit('Mul', [x.name, ctx.b.constFloat(`${out}/scale`, scale)], offset === 0 ? out : ctx.tmp(`${out}/scaled`));
  if (offset !== 0) ctx.emit('Add', [scaled, ctx.b.constFloat(`${out}/offset`, offset)], out);
  return { name: out, shape: x.shape };
}

/** Every supported Keras layer class (InputLayer and nested models are handled by the converter). */
export const LAYER_EMITTERS: Record<string, LayerEmitter> = {
  Conv2D: conv2d,
  Convolution2D: conv2d,
  DepthwiseConv2D: depthwiseConv2d,
  SeparableConv2D: separableConv2d,
  SeparableConvolution2D: separableConv2d,
  BatchNormalization: batchNorm,
  Activation: activationLayer,
  ReLU: relu,
  LeakyReLU: leakyRelu,
  ELU: elu,
  Softmax: softmaxLayer,
  ZeroPadding2D: zeroPadding2d,
  MaxPooling2D: pooling('MaxPool'),
  MaxPool2D: pooling('MaxPool'),
  AveragePooling2D: pooling('AveragePool'),
  AvgPool2D: pooling('AveragePool'),
  GlobalAveragePooling2D: globalPooling('GlobalAveragePool'),
  GlobalAvgPool2D: globalPooling('GlobalAveragePool'),
  GlobalMaxPooling2D: globalPooling('GlobalMaxPool'),
  GlobalMaxPool2D: globalPooling('GlobalMaxPool'),
  Dense: dense,
  Flatten: flatten,
  Reshape: reshape,
  Dropout: identity,
  SpatialDropout2D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
  Add: merge('Add', 'Sum'),
  Subtract: merge('Sub'),
  Multiply: merge('Mul'),
  Average: merge('Mean', 'Mean'),
  Maximum: merge('Max', 'Max'),
  Minimum: merge('Min', 'Min'),
  Concatenate: concatenate,
  Rescaling: rescaling,
};
