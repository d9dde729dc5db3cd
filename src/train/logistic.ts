/**
 * Multinomial logistic regression's loss and gradient as one onnxruntime graph, so that the two big products
 * (X·Wᵀ and Gᵀ·X) run in MLAS instead of JS loops. The features and one-hot labels are constants of the graph;
 * each evaluation feeds only the parameters and per-sample weights — a 0/1 mask of the rows in use, so one
 * session serves every cross-validation fold and the refit.
 */
import { GraphBuilder } from '../onnx/graph.js';
import { attr, emptyGraph, floatTensor, newModel } from '../onnx/types.js';
import { Session, asFloat32, float32 } from '../runtime/session.js';
import { GraftError } from '../util/errors.js';

export interface LogisticData {
  /** Row-major [n, dim] features (already standardised if wanted). */
  x: Float32Array;
  y: ArrayLike<number>;
  n: number;
  dim: number;
  nClasses: number;
}

/** Parameters as one vector: weight [nClasses, dim] row-major (Gemm transB=1 layout), then bias [nClasses]. */
export function parameterCount(dim: number, nClasses: number): number {
  return nClasses * dim + nClasses;
}

export class LogisticProblem {
  /** Function evaluations so far (for reports and benchmarks). */
  evaluations = 0;

  private constructor(private readonly session: Session, readonly n: number, readonly dim: number, readonly nClasses: number) {}

  static async create(data: LogisticData): Promise<LogisticProblem> {
    const { x, y, n, dim, nClasses } = data;
    if (x.length !== n * dim) throw new GraftError('SHAPE', `logistic problem: ${x.length} feature values for ${n}×${dim}`);
    const onehot = new Float32Array(n * nClasses);
    for (let i = 0; i < n; i++) {
      const c = y[i];
      if (!Number.isInteger(c) || c < 0 || c >= nClasses) throw new GraftError('BAD_ARGUMENT', `logistic problem: label ${c} of row ${i} is not in [0, ${nClasses})`);
      onehot[i * nClasses + c] = 1;
    }
    const g = emptyGraph('logistic_loss_and_gradient');
    const b = new GraphBuilder(g);
    const X = b.initializer(floatTensor('x', [n, dim], x));
    const Y = b.initializer(floatTensor('y_onehot', [n, nClasses], onehot));
    const W = b.input('weight', 'float32', [nClasses, dim]);
    const B = b.input('bias', 'float32', [nClasses]);
    // Per-sample weights, summing to 1 over the rows in use (0 elsewhere): the loss is their weighted mean.
    const S = b.input('sample_weight', 'float32', [n, 1]);
    b.node('Gemm', [X, W, B], { transB: attr.i(1) }, { outputs: ['logits'] });
    const logp = b.op('LogSoftmax', ['logits'], { axis: attr.i(1) });
    const weightedTarget = b.op('Mul', [Y, S]);
    const picked = b.op('Mul', [weightedTarget, logp]);
    const total = b.op('ReduceSum', [picked], { keepdims: attr.i(0) });
    b.node('Neg', [total], {}, { outputs: ['loss'] });
    // d loss / d logits = (softmax − onehot) · sample weight.
    const dLogits = b.op('Mul', [b.op('Sub', [b.op('Exp', [logp]), Y]), S]);
    b.node('Gemm', [dLogits, X], { transA: attr.i(1) }, { outputs: ['d_weight'] });
    b.node('ReduceSum', [dLogits, b.constInt64('axis0', [0])], { keepdims: attr.i(0) }, { outputs: ['d_bias'] });
    b.output('loss', 'float32', []);
    b.output('d_weight', 'float32', [nClasses, dim]);
    b.output('d_bias', 'float32', [nClasses]);
    b.output('logits', 'float32', [n, nClasses]);
    const session = await Session.create(newModel(g, 17));
    return new LogisticProblem(session, n, dim, nClasses);
  }

  /**
   * Mean weighted cross-entropy + (λ/2)·‖weight‖² at `params`, gradient into `grad`.
   * `sampleWeight` must sum to 1 (see maskWeights).
   */
  async evaluate(params: Float64Array, sampleWeight: Float32Array, lambda: number, grad: Float64Array): Promise<number> {
    const { dim, nClasses: k } = this;
    const out = await this.session.run(this.feeds(params, sampleWeight), ['loss', 'd_weight', 'd_bias']);
    this.evaluations++;
    const dW = asFloat32(out.d_weight);
    const dB = asFloat32(out.d_bias);
    let loss = asFloat32(out.loss)[0];
    const nw = k * dim;
    let penalty = 0;
    for (let j = 0; j < nw; j++) {
      penalty += params[j] * params[j];
      grad[j] = dW[j] + lambda * params[j];
    }
    for (let c = 0; c < k; c++) grad[nw + c] = dB[c];
    loss += 0.5 * lambda * penalty;
    return loss;
  }

  /** Logits [n, nClasses] of every row at `params`. */
  async logits(params: Float64Array): Promise<Float32Array> {
    const out = await this.session.run(this.feeds(params, new Float32Array(this.n)), ['logits']);
    return asFloat32(out.logits);
  }

  async release(): Promise<void> {
    await this.session.release();
  }

  private feeds(params: Float64Array, sampleWeight: Float32Array) {
    const { dim, nClasses: k, n } = this;
    if (params.length !== parameterCount(dim, k)) throw new GraftError('SHAPE', `logistic problem: ${params.length} parameters, expected ${parameterCount(dim, k)}`);
    if (sampleWeight.length !== n) throw new GraftError('SHAPE', `logistic problem: ${sampleWeight.length} sample weights for ${n} rows`);
    return {
      weight: float32(Float32Array.from(params.subarray(0, k * dim)), [k, dim]),
      bias: float32(Float32Array.from(params.subarray(k * dim)), [k]),
      sample_weight: float32(sampleWeight, [n, 1]),
    };
  }
}

/** Sample weights 1/|rows| on `rows`, 0 elsewhere. */
export function maskWeights(n: number, rows: ArrayLike<number>): Float32Array {
  const w = new Float32Array(n);
  for (let r = 0; r < rows.length; r++) w[rows[r]] = 1 / rows.length;
  return w;
}
