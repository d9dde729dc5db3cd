import { GraftError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { denseBackwardInput, denseBackwardParams, denseForward } from './dense.js';
import type { FloatArray } from './loss.js';

/** A trainable tensor in PyTorch / ONNX layout: weights [out, in], biases [out]. `data` is live: optimisers update it in place. */
export interface Param {
  name: string;
  data: Float32Array;
  shape: number[];
}

/** Per-feature affine map x ↦ (x − mean) / std applied before the first layer (explicit, never implied). */
export interface Standardisation {
  mean: Float32Array;
  std: Float32Array;
}

/** What a training forward keeps for the backward pass. */
export interface ForwardPass {
  n: number;
  /** Row-major [n, nClasses]. */
  logits: Float64Array;
  /** Input of every dense layer (the first is the possibly standardised batch). */
  readonly layerInputs: FloatArray[];
  /** Dropout scale per hidden unit (0 or 1/(1−p)) for every hidden layer; null when dropout is off. */
  readonly dropoutMasks: (Float64Array | null)[];
}

export type HeadKind = 'linear' | 'mlp';

export interface HeadConfig {
  kind: HeadKind;
  inputDim: number;
  nClasses: number;
  hidden: number[];
  dropout: number;
  standardisation?: Standardisation;
}

export interface HeadJSON {
  format: 'graft-head';
  version: 1;
  kind: HeadKind;
  inputDim: number;
  nClasses: number;
  hidden: number[];
  dropout: number;
  /** Parameters in parameters() order, float32 little-endian, base64. */
  parameters: { name: string; shape: number[]; data: string }[];
  standardisation?: { mean: string; std: string };
}

interface DenseLayer {
  inDim: number;
  outDim: number;
  weight: Float32Array;
  bias: Float32Array;
}

/** What fitHead needs from a classifier head. */
export interface Head {
  readonly inputDim: number;
  readonly nClasses: number;
  /** Evaluation-mode logits [n, nClasses]. */
  forward(x: Float32Array, n: number): Float32Array;
  forwardTrain(x: Float32Array, n: number, rng: Rng): ForwardPass;
  backward(pass: ForwardPass, dLogits: Float64Array): Float64Array[];
  parameters(): Param[];
  loadParameters(values: ArrayLike<number>[]): void;
}

/** Stack of fully connected layers with ReLU (and inverted dropout at train time) between them. */
export abstract class DenseHead implements Head {
  readonly kind: HeadKind;
  readonly inputDim: number;
  readonly nClasses: number;
  readonly hidden: readonly number[];
  readonly dropout: number;
  readonly standardisation: Standardisation | undefined;
  private readonly layers: DenseLayer[];

  protected constructor(config: HeadConfig, seed: number) {
    const { kind, inputDim, nClasses, hidden, dropout, standardisation } = config;
    for (const [what, v] of [['inputDim', inputDim], ['nClasses', nClasses], ...hidden.map((h, i) => [`hidden[${i}]`, h])] as [string, number][]) {
      if (!Number.isInteger(v) || v < 1) throw new GraftError('BAD_ARGUMENT', `${kind} head: ${what} = ${v} must be a positive integer`);
    }
    if (!(dropout >= 0 && dropout < 1)) throw new GraftError('BAD_ARGUMENT', `${kind} head: dropout ${dropout} is outside [0, 1)`);
    if (standardisation && (standardisation.mean.length !== inputDim || standardisation.std.length !== inputDim)) {
      throw new GraftError('SHAPE', `${kind} head: standardisation has ${standardisation.mean.length}/${standardisation.std.length} entries for ${inputDim} features`);
    }
    this.kind = kind;
    this.inputDim = inputDim;
    this.nClasses = nClasses;
    this.hidden = [...hidden];
    this.dropout = dropout;
    this.standardisation = standardisation;
    const rng = new Rng(seed);
    const sizes = [inputDim, ...hidden, nClasses];
    this.layers = [];
    for (let l = 0; l + 1 < sizes.length; l++) {
      const inDim = sizes[l];
      const outDim = sizes[l + 1];
      // PyTorch nn.Linear: kaiming_uniform(a=√5) gives U(−1/√in, 1/√in); the bias uses the same bound.
      const bound = 1 / Math.sqrt(inDim);
      const weight = new Float32Array(outDim * inDim);
      for (let j = 0; j < weight.length; j++) weight[j] = rng.uniform(-bound, bound);
      const bias = new Float32Array(outDim);
      for (let j = 0; j < outDim; j++) bias[j] = rng.uniform(-bound, bound);
      this.layers.push({ inDim, outDim, weight, bias });
    }
  }

  /** The configuration this head was built from (no parameters). */
  config(): HeadConfig {
    return {
      kind: this.kind,
      inputDim: this.inputDim,
      nClasses: this.nClasses,
      hidden: [...this.hidden],
      dropout: this.dropout,
      standardisation: this.standardisation,
    };
  }

  /** Parameters in layer order: fc0.weight, fc0.bias, fc1.weight, ... — each an ONNX Gemm with transB=1, ReLU in between. */
  parameters(): Param[] {
    return this.layers.flatMap((layer, l) => [
      { name: `fc${l}.weight`, data: layer.weight, shape: [layer.outDim, layer.inDim] },
      { name: `fc${l}.bias`, data: layer.bias, shape: [layer.outDim] },
    ]);
  }

  /** Copies values into the parameters (same order and sizes as parameters()). */
  loadParameters(values: ArrayLike<number>[]): void {
    const params = this.parameters();
    if (values.length !== params.length) {
      throw new GraftError('SHAPE', `${this.kind} head: ${values.length} parameter arrays given, ${params.length} expected`);
    }
    params.forEach((p, i) => {
      if (values[i].length !== p.data.length) {
        throw new GraftError('SHAPE', `${this.kind} head: parameter ${p.name} needs ${p.data.length} values, got ${values[i].length}`);
      }
      p.data.set(values[i]);
    });
  }

  /** Evaluation-mode logits [n, nClasses] (no dropout). */
  forward(x: Float32Array, n: number): Float32Array {
    let a: FloatArray = this.input(x, n);
    for (let l = 0; l < this.layers.length; l++) {
      const layer = this.layers[l];
      const z = new Float64Array(n * layer.outDim);
      denseForward(a, n, layer.weight, layer.bias, layer.inDim, layer.outDim, z);
      if (l + 1 < this.layers.length) relu(z);
      a = z;
    }
    return Float32Array.from(a);
  }

  /** Training-mode forward: dropout masks are drawn from `rng` (same rng state ⇒ same masks). */
  forwardTrain(x: Float32Array, n: number, rng: Rng): ForwardPass {
    const layerInputs: FloatArray[] = [this.input(x, n)];
    const dropoutMasks: (Float64Array | null)[] = [];
    let logits = new Float64Array(0);
    for (let l = 0; l < this.layers.length; l++) {
      const layer = this.layers[l];
      const z = new Float64Array(n * layer.outDim);
      denseForward(layerInputs[l], n, layer.weight, layer.bias, layer.inDim, layer.outDim, z);
      if (l + 1 === this.layers.length) {
        logits = z;
        break;
      }
      relu(z);
      let mask: Float64Array | null = null;
      if (this.dropout > 0) {
        mask = new Float64Array(z.length);
        const keepScale = 1 / (1 - this.dropout);
        for (let j = 0; j < z.length; j++) {
          mask[j] = rng.next() < this.dropout ? 0 : keepScale;
          z[j] *= mask[j];
        }
      }
      dropoutMasks.push(mask);
      layerInputs.push(z);
    }
    return { n, logits, layerInputs, dropoutMasks };
  }

  /** Gradients of the loss w.r.t. every parameter (parameters() order), given d loss / d logits of a training forward. */
  backward(pass: ForwardPass, dLogits: Float64Array): Float64Array[] {
    const { n } = pass;
    if (dLogits.length !== n * this.nClasses) {
      throw new GraftError('SHAPE', `${this.kind} head backward: ${dLogits.length} logit gradients for ${n}×${this.nClasses} logits`);
    }
    const grads: Float64Array[] = new Array(this.layers.length * 2);
    let dOut = dLogits;
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const layer = this.layers[l];
      const input = pass.layerInputs[l];
      const dW = new Float64Array(layer.weight.length);
      const dB = new Float64Array(layer.outDim);
      denseBackwardParams(input, n, dOut, layer.inDim, layer.outDim, dW, dB);
      grads[2 * l] = dW;
      grads[2 * l + 1] = dB;
      if (l === 0) break;
      const dIn = new Float64Array(n * layer.inDim);
      denseBackwardInput(dOut, n, layer.weight, layer.inDim, layer.outDim, dIn);
      // input = relu(z)·mask, so input > 0 exactly where both ReLU and dropout let the gradient through.
      const mask = pass.dropoutMasks[l - 1];
      for (let j = 0; j < dIn.length; j++) {
        dIn[j] = input[j] > 0 ? (mask ? dIn[j] * mask[j] : dIn[j]) : 0;
      }
      dOut = dIn;
    }
    return grads;
  }

  /** Serialises configuration and parameters (exact float32 values). */
  toJSON(): HeadJSON {
    const json: HeadJSON = {
      format: 'graft-head',
      version: 1,
      kind: this.kind,
      inputDim: this.inputDim,
      nClasses: this.nClasses,
      hidden: [...this.hidden],
      dropout: this.dropout,
      parameters: this.parameters().map((p) => ({ name: p.name, shape: p.shape, data: encodeFloat32(p.data) })),
    };
    if (this.standardisation) {
      json.standardisation = { mean: encodeFloat32(this.standardisation.mean), std: encodeFloat32(this.standardisation.std) };
    }
    return json;
  }

  private input(x: Float32Array, n: number): FloatArray {
    if (x.length !== n * this.inputDim) {
      throw new GraftError('SHAPE', `${this.kind} head: input has ${x.length} values, expected ${n}×${this.inputDim}`);
    }
    const s = this.standardisation;
    if (!s) return x;
    const d = this.inputDim;
    const out = new Float64Array(n * d);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < d; k++) out[i * d + k] = (x[i * d + k] - s.mean[k]) / s.std[k];
    }
    return out;
  }
}

export interface LinearHeadOptions {
  inputDim: number;
  nClasses: number;
  seed?: number;
  standardisation?: Standardisation;
}

/** Multinomial logistic regression: logits = x·Wᵀ + b. */
export class LinearHead extends DenseHead {
  constructor(options: LinearHeadOptions) {
    super({ kind: 'linear', inputDim: options.inputDim, nClasses: options.nClasses, hidden: [], dropout: 0, standardisation: options.standardisation }, options.seed ?? 0);
  }

  /** Restores a LinearHead written by toJSON. */
  static fromJSON(json: HeadJSON): LinearHead {
    if (json.kind !== 'linear') throw new GraftError('CHECKPOINT', `LinearHead.fromJSON: checkpoint holds a '${json.kind}' head`);
    return headFromJSON(json) as LinearHead;
  }
}

export interface MlpHeadOptions {
  inputDim: number;
  hidden: number[];
  nClasses: number;
  /** Dropout probability after every hidden ReLU (inverted dropout, train time only). */
  dropout?: number;
  seed?: number;
  standardisation?: Standardisation;
}

/** Multi-layer perceptron: Linear → ReLU → Dropout → ... → Linear. */
export class MlpHead extends DenseHead {
  constructor(options: MlpHeadOptions) {
    super(
      { kind: 'mlp', inputDim: options.inputDim, nClasses: options.nClasses, hidden: options.hidden, dropout: options.dropout ?? 0, standardisation: options.standardisation },
      options.seed ?? 0,
    );
  }

  /** Restores an MlpHead written by toJSON. */
  static fromJSON(json: HeadJSON): MlpHead {
    if (json.kind !== 'mlp') throw new GraftError('CHECKPOINT', `MlpHead.fromJSON: checkpoint holds a '${json.kind}' head`);
    return headFromJSON(json) as MlpHead;
  }
}

/** Builds a freshly initialised head of the given configuration. */
export function createHead(config: HeadConfig, seed = 0): DenseHead {
  const { kind, inputDim, nClasses, hidden, dropout, standardisation } = config;
  if (kind === 'linear') {
    if (hidden.length > 0) throw new GraftError('BAD_ARGUMENT', 'linear head: hidden layers given');
    return new LinearHead({ inputDim, nClasses, seed, standardisation });
  }
  if (kind === 'mlp') return new MlpHead({ inputDim, hidden, nClasses, dropout, seed, standardisation });
  throw new GraftError('BAD_ARGUMENT', `unknown head kind '${String(kind)}'`);
}

/** Restores a head of either kind written by toJSON. */
export function headFromJSON(json: HeadJSON): DenseHead {
  if (json?.format !== 'graft-head' || json.version !== 1) {
    throw new GraftError('CHECKPOINT', `not a graft head checkpoint (format ${String(json?.format)}, version ${String(json?.version)})`);
  }
  const standardisation = json.standardisation
    ? { mean: decodeFloat32(json.standardisation.mean), std: decodeFloat32(json.standardisation.std) }
    : undefined;
  const head = createHead({ ...json, standardisation });
  const names = head.parameters().map((p) => p.name);
  json.parameters.forEach((p, i) => {
    if (p.name !== names[i]) throw new GraftError('CHECKPOINT', `head checkpoint: parameter ${i} is '${p.name}', expected '${names[i]}'`);
  });
  head.loadParameters(json.parameters.map((p) => decodeFloat32(p.data)));
  return head;
}

/** Mean and (population) standard deviation per feature; zero-variance features get std 1, as sklearn's StandardScaler. */
export function computeStandardisation(x: Float32Array, n: number, dim: number): Standardisation {
  if (x.length !== n * dim || n < 1) throw new GraftError('SHAPE', `computeStandardisation: ${x.length} values for ${n}×${dim}`);
  const sum = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let k = 0; k < dim; k++) sum[k] += x[i * dim + k];
  const mean = sum.map((s) => s / n);
  const sq = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < dim; k++) {
      const d = x[i * dim + k] - mean[k];
      sq[k] += d * d;
    }
  }
  const std = new Float32Array(dim);
  for (let k = 0; k < dim; k++) {
    const s = Math.sqrt(sq[k] / n);
    std[k] = s > 1e-12 ? s : 1;
  }
  return { mean: Float32Array.from(mean), std };
}

/** Rows [n, dim] of `data` standardised by `s` (a copy), or `data.x` itself without one. */
export function standardise(data: { x: Float32Array; n: number; dim: number }, s: Standardisation | undefined): Float32Array {
  if (!s) return data.x;
  const out = new Float32Array(data.x.length);
  const d = data.dim;
  for (let i = 0; i < data.n; i++) for (let k = 0; k < d; k++) out[i * d + k] = (data.x[i * d + k] - s.mean[k]) / s.std[k];
  return out;
}

/**
 * An equivalent head without standardisation: the first layer absorbs it
 * (W' = W / std per input column, b' = b − W'·mean), ready for ONNX export as plain Gemm layers.
 */
export function foldStandardisation(head: DenseHead): DenseHead {
  const s = head.standardisation;
  const folded = createHead({ ...head.config(), standardisation: undefined });
  const values = head.parameters().map((p) => Float32Array.from(p.data));
  if (s) {
    const d = head.inputDim;
    const w = head.parameters()[0].data;
    const b = head.parameters()[1].data;
    const outDim = b.length;
    for (let o = 0; o < outDim; o++) {
      let shift = 0;
      for (let k = 0; k < d; k++) {
        const wk = w[o * d + k] / s.std[k];
        values[0][o * d + k] = wk;
        shift += wk * s.mean[k];
      }
      values[1][o] = b[o] - shift;
    }
  }
  folded.loadParameters(values);
  return folded;
}

function relu(z: Float64Array): void {
  for (let j = 0; j < z.length; j++) if (z[j] < 0) z[j] = 0;
}

function encodeFloat32(data: Float32Array): string {
  const copy = Float32Array.from(data);
  const bytes = Buffer.from(copy.buffer, copy.byteOffset, copy.byteLength);
  if (!littleEndian) bytes.swap32();
  return bytes.toString('base64');
}

function decodeFloat32(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.length % 4 !== 0) throw new GraftError('CHECKPOINT', `head checkpoint: ${bytes.length} bytes is not a float32 array`);
  if (!littleEndian) bytes.swap32();
  const out = new Float32Array(bytes.length / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
