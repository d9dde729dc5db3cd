/**
 * Multinomial logistic regression's loss and gradient as one onnxruntime graph, so that the two big products
 * (X·Wᵀ and Gᵀ·X) run in MLAS instead of JS loops. The features and one-hot labels are constants of the graph;
 * each evaluation feeds only the parameters and per-sample weights — a 0/1 mask of the rows in use, so one
 * session serves every cross-validation fold and the refit.
 */
import { GraphBuilder } from '../onnx/graph.js';
import { attr, emptyGraph, floatTensor, newModel } from '../onnx/types.js';
import { Session, asFloat32, float32, type SessionOptions } from '../runtime/session.js';
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

/** One loss+gradient request: the gradient is written into `grad`. */
export interface Evaluation {
  params: Float64Array;
  sampleWeight: Float32Array;
  lambda: number;
  grad: Float64Array;
}

export class LogisticProblem {
  /** Function evaluations so far (for reports and benchmarks). */
  evaluations = 0;
  /** session.run calls for evaluations (one per batch). */
  runs = 0;

  private constructor(private readonly session: Session, readonly n: number, readonly dim: number, readonly nClasses: number) {}

  static async create(data: LogisticData, session: SessionOptions = { threads: headThreads() }): Promise<LogisticProblem> {
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
    // [n, 1, k]: broadcasts over the F problems evaluated in one run.
    const Y = b.initializer(floatTensor('y_onehot', [n, 1, nClasses], onehot));
    // F problems at once (e.g. the cross-validation folds): their weights stacked [F·k, dim], so X·Wᵀ is one wide
    // Gemm and each L-BFGS step of every fold costs one session.run instead of F.
    const W = b.input('weight', 'float32', ['fk', dim]);
    const B = b.input('bias', 'float32', ['fk']);
    // Per-sample weights of each problem, summing to 1 over the rows it uses (0 elsewhere): its loss is their weighted mean.
    const S = b.input('sample_weight', 'float32', [n, 'f', 1]);
    b.node('Gemm', [X, W, B], { transB: attr.i(1) }, { outputs: ['logits'] });
    const logits3 = b.op('Reshape', ['logits', b.constInt64('per_problem', [0, -1, nClasses])]);
    const logp = b.op('LogSoftmax', [logits3], { axis: attr.i(2) });
    const weightedTarget = b.op('Mul', [Y, S]);
    const picked = b.op('Mul', [weightedTarget, logp]);
    // Per-row weighted losses [n, F]; the sum over rows is done in float64 in JS: a float32 reduction over rows is
    // off by a few ulps (~1e-7), enough to stall the line search near the optimum.
    b.node('ReduceSum', [picked, b.constInt64('classes', [2])], { keepdims: attr.i(0) }, { outputs: ['row_loss'] });
    // d loss / d logits = (softmax − onehot) · sample weight.
    const dLogits3 = b.op('Mul', [b.op('Sub', [b.op('Exp', [logp]), Y]), S]);
    const dLogits = b.op('Reshape', [dLogits3, b.constInt64('stacked', [0, -1])]);
    b.node('Gemm', [dLogits, X], { transA: attr.i(1) }, { outputs: ['d_weight'] });
    b.node('ReduceSum', [dLogits, b.constInt64('axis0', [0])], { keepdims: attr.i(0) }, { outputs: ['d_bias'] });
    b.output('row_loss', 'float32', [n, 'f']);
    b.output('d_weight', 'float32', ['fk', dim]);
    b.output('d_bias', 'float32', ['fk']);
    b.output('logits', 'float32', [n, 'fk']);
    const compiled = await Session.create(newModel(g, 17), session);
    return new LogisticProblem(compiled, n, dim, nClasses);
  }

  /**
   * Mean weighted cross-entropy + (λ/2)·‖weight‖² at `params`, gradient into `grad`.
   * `sampleWeight` must sum to 1 (see maskWeights).
   */
  async evaluate(params: Float64Array, sampleWeight: Float32Array, lambda: number, grad: Float64Array): Promise<number> {
    return (await this.evaluateBatch([{ params, sampleWeight, lambda, grad }]))[0];
  }

  /** Several independent evaluations (e.g. one per fold) in ONE session.run; counts as items.length evaluations. */
  async evaluateBatch(items: readonly Evaluation[]): Promise<number[]> {
    const { dim, nClasses: k, n } = this;
    const size = parameterCount(dim, k);
    const f = items.length;
    const nw = k * dim;
    const weight = new Float32Array(f * nw);
    const bias = new Float32Array(f * k);
    const sampleWeight = new Float32Array(n * f);
    items.forEach((item, p) => {
      if (item.params.length !== size) throw new GraftError('SHAPE', `logistic problem: ${item.params.length} parameters, expected ${size}`);
      if (item.sampleWeight.length !== n) throw new GraftError('SHAPE', `logistic problem: ${item.sampleWeight.length} sample weights for ${n} rows`);
      weight.set(item.params.subarray(0, nw), p * nw);
      bias.set(item.params.subarray(nw), p * k);
      for (let i = 0; i < n; i++) sampleWeight[i * f + p] = item.sampleWeight[i];
    });
    const out = await this.session.run({
      weight: float32(weight, [f * k, dim]),
      bias: float32(bias, [f * k]),
      sample_weight: float32(sampleWeight, [n, f, 1]),
    }, ['row_loss', 'd_weight', 'd_bias']);
    this.evaluations += f;
    this.runs++;
    const dW = asFloat32(out.d_weight);
    const dB = asFloat32(out.d_bias);
    const rowLoss = asFloat32(out.row_loss);
    return items.map(({ params, lambda, grad }, p) => {
      let penalty = 0;
      for (let j = 0; j < nw; j++) {
        penalty += params[j] * params[j];
        grad[j] = dW[p * nw + j] + lambda * params[j];
      }
      for (let c = 0; c < k; c++) grad[nw + c] = dB[p * k + c];
      let loss = 0;
      for (let i = 0; i < n; i++) loss -= rowLoss[i * f + p];
      return loss + 0.5 * lambda * penalty;
    });
  }

  /** Logits [n, nClasses] of every row at `params`. */
  async logits(params: Float64Array): Promise<Float32Array> {
    const { dim, nClasses: k, n } = this;
    if (params.length !== parameterCount(dim, k)) throw new GraftError('SHAPE', `logistic problem: ${params.length} parameters, expected ${parameterCount(dim, k)}`);
    const out = await this.session.run({
      weight: float32(Float32Array.from(params.subarray(0, k * dim)), [k, dim]),
      bias: float32(Float32Array.from(params.subarray(k * dim)), [k]),
      sample_weight: float32(new Float32Array(n), [n, 1, 1]),
    }, ['logits']);
    return asFloat32(out.logits);
  }

  /** Writes the per-node profile of a problem created with a profilePrefix (graft bench head --profile). */
  endProfiling(): void {
    this.session.endProfiling();
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Intra-op threads of the head's session: 1 unless GRAFT_THREADS says otherwise. Each run is two modest GEMMs
 * between JavaScript L-BFGS steps; on the 2-core CI machine the warm Oxford run took 4.5–6.1 s wall with 1 thread,
 * 5.8–7.3 s with 2 (spinning) and 6.4–7.3 s with 2 sleeping threads (same sitting): extra threads either spin
 * against the JavaScript thread or wake too slowly for a ~10 ms run.
 */
export function headThreads(): number | undefined {
  return Number(process.env.GRAFT_THREADS) > 0 ? undefined : 1;
}

/** Sample weights 1/|rows| on `rows`, 0 elsewhere. */
export function maskWeights(n: number, rows: ArrayLike<number>): Float32Array {
  const w = new Float32Array(n);
  for (let r = 0; r < rows.length; r++) w[rows[r]] = 1 / rows.length;
  return w;
}
