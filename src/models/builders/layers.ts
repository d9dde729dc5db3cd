/**
 * Layer helpers that emit ONNX nodes named after torchvision module paths, with seeded initializers named
 * after torchvision state_dict keys (`layer1.0.conv1.weight`, `features.0.1.running_var`, …).
 *
 * Every initializer added here is a parameter or a BatchNorm statistic, so `parameterCount` stays equal to
 * torchvision's count; scalar operands (Clip bounds, pooling matrices) are Constant nodes instead.
 */
import { attr, floatTensor, tensorSize } from '../../onnx/types.js';
import type { Attribute } from '../../onnx/types.js';
import type { GraphBuilder } from '../../onnx/graph.js';
import { GraftError } from '../../util/errors.js';
import type { Rng } from '../../util/rng.js';

/** A weight initialisation, as torchvision's per-model init loops apply them. */
export type WeightInit =
  /** nn.init.kaiming_normal_(w, mode='fan_out', nonlinearity='relu'): N(0, 2 / fan_out), bias zero. */
  | { kind: 'kaimingNormalFanOut' }
  /** nn.init.normal_(w, 0, std), bias zero. */
  | { kind: 'normal'; std: number }
  /** nn.init.uniform_(w, -bound, bound), bias zero. */
  | { kind: 'uniform'; bound: number }
  /** PyTorch's reset_parameters (kaiming_uniform_ with a=√5): weight and bias both U(±1/√fan_in). */
  | { kind: 'torchDefault' };

export const KAIMING: WeightInit = { kind: 'kaimingNormalFanOut' };

export interface ConvOptions {
  /** Module path: the output tensor's name and the initializers' prefix. */
  name: string;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride?: number;
  /** Symmetric padding; default ⌊(kernel − 1) / 2⌋ · dilation (torchvision's Conv2dNormActivation). */
  padding?: number;
  groups?: number;
  dilation?: number;
  bias?: boolean;
  init?: WeightInit;
}

export interface LinearOptions {
  name: string;
  inFeatures: number;
  outFeatures: number;
  init: WeightInit;
  /** Output tensor name when it differs from the module path (the classifier's output is `logits`). */
  output?: string;
}

/** torchvision's `_make_divisible`: rounds channels to a multiple of `divisor`, never more than 10% down. */
export function makeDivisible(v: number, divisor = 8, minValue = divisor): number {
  let next = Math.max(minValue, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (next < 0.9 * v) next += divisor;
  return next;
}

/** Draws a tensor of the given shape from a weight initialisation; `fanIn`/`fanOut` as torch computes them. */
export function initWeights(rng: Rng, dims: number[], init: WeightInit): Float32Array {
  const out = new Float32Array(tensorSize(dims));
  const receptive = tensorSize(dims.slice(2));
  switch (init.kind) {
    case 'kaimingNormalFanOut':
      fillNormal(rng, out, Math.sqrt(2 / (dims[0] * receptive)));
      break;
    case 'normal':
      fillNormal(rng, out, init.std);
      break;
    case 'uniform':
      fillUniform(rng, out, init.bound);
      break;
    case 'torchDefault':
      fillUniform(rng, out, 1 / Math.sqrt(dims[1] * receptive));
      break;
  }
  return out;
}

/** N(0, std²) by Marsaglia's polar method, inlined: VGG draws ~10⁸ of these, and it skips Box–Muller's sin/cos. */
function fillNormal(rng: Rng, out: Float32Array, std: number): void {
  for (let i = 0; i < out.length; ) {
    const a = 2 * rng.next() - 1;
    const b = 2 * rng.next() - 1;
    const s = a * a + b * b;
    if (s >= 1 || s === 0) continue;
    const f = std * Math.sqrt((-2 * Math.log(s)) / s);
    out[i++] = a * f;
    if (i < out.length) out[i++] = b * f;
  }
}

function fillUniform(rng: Rng, out: Float32Array, bound: number): void {
  for (let i = 0; i < out.length; i++) out[i] = rng.uniform(-bound, bound);
}

/** Bias of a layer whose weight has `weightDims`: zeros, except U(±1/√fan_in) under PyTorch's default init. */
function initBias(rng: Rng, weightDims: number[], init: WeightInit): Float32Array {
  const out = new Float32Array(weightDims[0]);
  if (init.kind === 'torchDefault') fillUniform(rng, out, 1 / Math.sqrt(weightDims[1] * tensorSize(weightDims.slice(2))));
  return out;
}

/**
 * Emits layers onto a GraphBuilder. Each op's output tensor is named by the module path it stands for, and
 * recorded in `taps`; composite modules (blocks, stages) are added to `taps` by the architecture with `tap`.
 */
export class Layers {
  readonly taps: Record<string, string> = {};
  private clipBounds: [string, string] | undefined;

  constructor(readonly g: GraphBuilder, readonly rng: Rng) {}

  /** Records `path` (a torchvision module path) as a name for `tensor`. */
  tap(path: string, tensor: string): string {
    this.taps[path] = tensor;
    return tensor;
  }

  /** Conv2d: weight [out, in/groups, k, k] (+ bias [out]); output named `name`. */
  conv(x: string, o: ConvOptions): string {
    const groups = o.groups ?? 1;
    const dilation = o.dilation ?? 1;
    const pad = o.padding ?? Math.floor((o.kernel - 1) / 2) * dilation;
    if (o.inChannels % groups || o.outChannels % groups) {
      throw new GraftError('SHAPE', `conv ${o.name}: channels ${o.inChannels}→${o.outChannels} are not divisible by groups=${groups}`);
    }
    const init = o.init ?? KAIMING;
    const dims = [o.outChannels, o.inChannels / groups, o.kernel, o.kernel];
    const inputs = [x, this.g.initializer(floatTensor(`${o.name}.weight`, dims, initWeights(this.rng, dims, init)))];
    if (o.bias) inputs.push(this.g.initializer(floatTensor(`${o.name}.bias`, [o.outChannels], initBias(this.rng, dims, init))));
    return this.emit('Conv', inputs, o.name, {
      kernel_shape: attr.ints([o.kernel, o.kernel]),
      strides: attr.ints([o.stride ?? 1, o.stride ?? 1]),
      pads: attr.ints([pad, pad, pad, pad]),
      dilations: attr.ints([dilation, dilation]),
      group: attr.i(groups),
    });
  }

  /** BatchNorm2d in inference form with torchvision's initial state: weight 1, bias 0, running mean 0, var 1. */
  batchNorm(x: string, name: string, channels: number, epsilon = 1e-5): string {
    const filled = (suffix: string, value: number) =>
      this.g.initializer(floatTensor(`${name}.${suffix}`, [channels], new Float32Array(channels).fill(value)));
    const inputs = [x, filled('weight', 1), filled('bias', 0), filled('running_mean', 0), filled('running_var', 1)];
    return this.emit('BatchNormalization', inputs, name, { epsilon: attr.f(epsilon) });
  }

  relu(x: string, name: string): string {
    return this.emit('Relu', [x], name);
  }

  /** ReLU6 as Clip(x, 0, 6). */
  relu6(x: string, name: string): string {
    this.clipBounds ??= [this.scalar('relu6/min', 0), this.scalar('relu6/max', 6)];
    return this.emit('Clip', [x, ...this.clipBounds], name);
  }

  sigmoid(x: string, name: string): string {
    return this.emit('Sigmoid', [x], name);
  }

  /** SiLU (swish): x · sigmoid(x). */
  silu(x: string, name: string): string {
    const s = this.g.op('Sigmoid', [x], {}, this.g.name(`${name}/sigmoid`));
    return this.emit('Mul', [x, s], name);
  }

  maxPool(x: string, name: string, kernel: number, stride: number, padding = 0): string {
    return this.emit('MaxPool', [x], name, {
      kernel_shape: attr.ints([kernel, kernel]),
      strides: attr.ints([stride, stride]),
      pads: attr.ints([padding, padding, padding, padding]),
    });
  }

  /** AvgPool2d without padding (so count_include_pad does not matter). */
  avgPool(x: string, name: string, kernel: number, stride: number): string {
    return this.emit('AveragePool', [x], name, { kernel_shape: attr.ints([kernel, kernel]), strides: attr.ints([stride, stride]) });
  }

  /** AdaptiveAvgPool2d(1). */
  globalAvgPool(x: string, name: string): string {
    return this.emit('GlobalAveragePool', [x], name);
  }

  /**
   * AdaptiveAvgPool2d(out) on a static [*, *, inSize, inSize] input, with PyTorch's bins
   * [⌊i·in/out⌋, ⌈(i+1)·in/out⌉): Identity when in = out, AveragePool when out divides in, otherwise
   * A · X · Aᵀ with a constant row-averaging matrix A [out, in] (the bins are separable).
   */
  adaptiveAvgPool(x: string, name: string, inSize: number, outSize: number): string {
    if (inSize === outSize) return this.emit('Identity', [x], name);
    if (inSize % outSize === 0) return this.avgPool(x, name, inSize / outSize, inSize / outSize);
    const a = new Float32Array(outSize * inSize);
    for (let i = 0; i < outSize; i++) {
      const start = Math.floor((i * inSize) / outSize);
      const end = Math.ceil(((i + 1) * inSize) / outSize);
      for (let j = start; j < end; j++) a[i * inSize + j] = 1 / (end - start);
    }
    const aT = new Float32Array(inSize * outSize);
    for (let i = 0; i < outSize; i++) for (let j = 0; j < inSize; j++) aT[j * outSize + i] = a[i * inSize + j];
    const rows = this.constant(`${name}/rows`, [outSize, inSize], a);
    const cols = this.constant(`${name}/cols`, [inSize, outSize], aT);
    const pooledCols = this.g.op('MatMul', [x, cols], {}, this.g.name(`${name}/pool_cols`));
    return this.emit('MatMul', [rows, pooledCols], name);
  }

  /** torch.flatten(x, 1). */
  flatten(x: string, name: string): string {
    return this.emit('Flatten', [x], name, { axis: attr.i(1) });
  }

  /** nn.Linear as Gemm(x, W, b, transB=1) with W [out, in]. */
  linear(x: string, o: LinearOptions): string {
    const dims = [o.outFeatures, o.inFeatures];
    const w = this.g.initializer(floatTensor(`${o.name}.weight`, dims, initWeights(this.rng, dims, o.init)));
    const b = this.g.initializer(floatTensor(`${o.name}.bias`, [o.outFeatures], initBias(this.rng, dims, o.init)));
    const out = this.emit('Gemm', [x, w, b], o.output ?? o.name, { transB: attr.i(1) });
    return this.tap(o.name, out);
  }

  add(a: string, b: string, name: string): string {
    return this.emit('Add', [a, b], name);
  }

  mul(a: string, b: string, name: string): string {
    return this.emit('Mul', [a, b], name);
  }

  /**
   * torchvision.ops.SqueezeExcitation at module path `name`: avgpool → fc1 (1×1 conv, bias) → activation →
   * fc2 → sigmoid, then scales the input; the product is the tensor `${name}.mul`, tapped as `name`.
   */
  squeezeExcitation(x: string, name: string, channels: number, squeezeChannels: number, activation: 'relu' | 'silu'): string {
    const pooled = this.globalAvgPool(x, `${name}.avgpool`);
    const fc1 = this.conv(pooled, { name: `${name}.fc1`, inChannels: channels, outChannels: squeezeChannels, kernel: 1, bias: true });
    const act = activation === 'relu' ? this.relu(fc1, `${name}.activation`) : this.silu(fc1, `${name}.activation`);
    const fc2 = this.conv(act, { name: `${name}.fc2`, inChannels: squeezeChannels, outChannels: channels, kernel: 1, bias: true });
    const scale = this.sigmoid(fc2, `${name}.scale_activation`);
    return this.tap(name, this.mul(scale, x, `${name}.mul`));
  }

  /** Adds a node whose single output (and node name) is `name`, and taps it. */
  private emit(opType: string, inputs: string[], name: string, attributes: Record<string, Attribute> = {}): string {
    if (this.g.taken.has(name)) throw new GraftError('BAD_ARGUMENT', `layer name "${name}" is used twice in graph ${this.g.graph.name}`);
    this.g.node(opType, inputs, attributes, { outputs: [name], name });
    return this.tap(name, name);
  }

  private scalar(base: string, value: number): string {
    return this.constant(base, [], Float32Array.of(value));
  }

  private constant(base: string, dims: number[], data: Float32Array): string {
    const name = this.g.name(base);
    return this.g.node('Constant', [], { value: attr.t(floatTensor(name, dims, data)) }, { outputs: [name], name })[0];
  }
}
