/**
 * Several backbones, one linear head each, combined by stacking (Wolpert 1992, "Stacked generalization"): every
 * backbone's head gets its own weight decay by cross-validation, and the heads' out-of-fold logits are mixed as
 * Σ_b w_b · logits_b with the weights w fitted by maximum likelihood on those held-out logits (a convex problem:
 * multinomial log loss of a linear combination). Logits add, so the stacked head is still one linear map over the
 * concatenated features — block b's weights and bias scaled by w_b — and exports as the same single Gemm.
 *
 * Why not only one head over the concatenated features: one penalty then has to suit backbones whose features
 * differ in number and quality (Oxford pets: MobileNet v1 768 dims, 92 % alone; Darknet-tiny 1000, 88 %), and the
 * stronger backbone's columns get the weaker one's regularisation. The caller keeps whichever of the two has the
 * lower out-of-fold log loss.
 */
import { minimizeLbfgs } from './lbfgs.js';
import { LogisticProblem } from './logistic.js';
import { fitLogistic, selectWeightDecay, type Selection, type SelectOptions } from './select.js';
import { logSumExp } from '../math/rows.js';
import { GraftError } from '../util/errors.js';

/** Mean multinomial log loss of [n, k] logits. */
export function logLoss(logits: Float32Array, labels: ArrayLike<number>, k: number): number {
  const n = labels.length;
  let loss = 0;
  for (let r = 0; r < n; r++) loss += logSumExp(logits, r * k, (r + 1) * k) - logits[r * k + labels[r]];
  return loss / n;
}

/** Σ_b weights[b] · logits[b]. */
export function mixLogits(logits: Float32Array[], weights: ArrayLike<number>): Float32Array {
  const out = new Float32Array(logits[0].length);
  logits.forEach((z, b) => {
    for (let i = 0; i < out.length; i++) out[i] += weights[b] * z[i];
  });
  return out;
}

/**
 * Stacking weights: argmin over w ≥ 0 of the mean log loss of Σ_b w_b · logits_b (each [n, k], rows aligned with
 * `labels`), by L-BFGS over u = log w from equal weights 1/B. Non-negative as in Breiman's "Stacked regressions"
 * (1996): unconstrained, a few dozen images let one backbone's head enter with a negative weight (two pet classes,
 * 14 images: −1.28 and 2.61) — a fit to the noise of the out-of-fold logits, not a combination of two classifiers.
 */
export async function fitStackingWeights(logits: Float32Array[], labels: ArrayLike<number>, k: number): Promise<{ weights: number[]; loss: number }> {
  const n = labels.length;
  if (!logits.length || logits.some((z) => z.length !== n * k)) throw new GraftError('SHAPE', `stacking: every block needs ${n}×${k} logits`);
  const blocks = logits.length;
  const mixed = new Float64Array(k);
  const softmax = new Float64Array(k);
  const w = new Float64Array(blocks);
  const objective = (u: Float64Array, grad: Float64Array): number => {
    for (let b = 0; b < blocks; b++) w[b] = Math.exp(u[b]);
    grad.fill(0);
    let loss = 0;
    for (let r = 0; r < n; r++) {
      mixed.fill(0);
      for (let b = 0; b < blocks; b++) for (let c = 0; c < k; c++) mixed[c] += w[b] * logits[b][r * k + c];
      const lse = logSumExp(mixed);
      const y = labels[r];
      loss += lse - mixed[y];
      for (let c = 0; c < k; c++) softmax[c] = Math.exp(mixed[c] - lse);
      // d/dw_b = Σ_c (softmax_c − onehot_c) · logits_b[c]
      for (let b = 0; b < blocks; b++) {
        let g = -logits[b][r * k + y];
        for (let c = 0; c < k; c++) g += softmax[c] * logits[b][r * k + c];
        grad[b] += g / n;
      }
    }
    // d/du_b = d/dw_b · w_b
    for (let b = 0; b < blocks; b++) grad[b] *= w[b];
    return loss / n;
  };
  const result = await minimizeLbfgs(objective, new Float64Array(blocks).fill(Math.log(1 / blocks)), { gradTol: 1e-7 });
  return { weights: Array.from(result.x, Math.exp), loss: result.value };
}

/**
 * One linear head's parameters ([k, dim] weight row-major, then [k] bias) from per-block heads (each [k, dims[b]]
 * + [k]) and stacking weights: the block's columns scaled by w_b, the biases summed with the same weights.
 */
export function stackedParameters(blockParams: Float64Array[], dims: number[], weights: number[], k: number): Float64Array {
  const dim = dims.reduce((a, d) => a + d, 0);
  const out = new Float64Array(k * dim + k);
  let offset = 0;
  blockParams.forEach((p, b) => {
    const d = dims[b];
    if (p.length !== k * d + k) throw new GraftError('SHAPE', `stacking: block ${b} has ${p.length} parameters, expected ${k * d + k}`);
    for (let c = 0; c < k; c++) {
      for (let j = 0; j < d; j++) out[c * dim + offset + j] = weights[b] * p[c * d + j];
      out[k * dim + c] += weights[b] * p[k * d + c];
    }
    offset += d;
  });
  return out;
}

/** What stacking selected (report.selected.search.stacking). */
export interface StackingSummary {
  /** w_b per backbone, in --model order. */
  weights: number[];
  /** Each backbone head's weight decay, chosen by its own cross-validation. */
  weightDecays: number[];
  /** Out-of-fold log loss of the stacked logits, and of the single head on the concatenated features. */
  cvLoss: number;
  concatenatedCvLoss: number;
  /** Whether the stacked head was kept (lower out-of-fold log loss than the concatenated head). */
  kept: boolean;
}

/**
 * Per-backbone linear heads on column blocks of one standardised feature matrix: their weight decays and the
 * stacking weights are selected by cross-validation (same folds as the concatenated head's), then `fit` fits every
 * block on the rows asked for and returns the stacked head's parameters.
 */
export class StackedHeads {
  private constructor(
    private readonly problems: LogisticProblem[],
    readonly dims: number[],
    readonly selections: Selection[],
    readonly weights: number[],
    readonly cvLoss: number,
    private readonly nClasses: number,
  ) {}

  static async select(
    data: { x: Float32Array; y: ArrayLike<number>; n: number; dims: number[]; nClasses: number },
    cv: Omit<SelectOptions, 'outOfFold'>,
  ): Promise<StackedHeads> {
    const { x, y, n, dims, nClasses } = data;
    const dim = dims.reduce((a, d) => a + d, 0);
    const problems: LogisticProblem[] = [];
    try {
      let offset = 0;
      for (const d of dims) {
        const block = new Float32Array(n * d);
        for (let r = 0; r < n; r++) block.set(x.subarray(r * dim + offset, r * dim + offset + d), r * d);
        problems.push(await LogisticProblem.create({ x: block, y, n, dim: d, nClasses }));
        offset += d;
      }
      const selections: Selection[] = [];
      for (const [b, p] of problems.entries()) {
        selections.push(await selectWeightDecay(p, { ...cv, outOfFold: true, log: cv.log && ((line) => cv.log!(`backbone ${b + 1}: ${line}`)) }));
      }
      const labels = cv.rows.map((r) => y[r]);
      const { weights, loss } = await fitStackingWeights(selections.map((s) => s.outOfFold!), labels, nClasses);
      return new StackedHeads(problems, dims, selections, weights, loss, nClasses);
    } catch (error) {
      await Promise.all(problems.map((p) => p.release()));
      throw error;
    }
  }

  /** Fits every block at its weight decay on `rows` (warm-started from `starts`, else from its CV): the stacked parameters, each block's, the blocks whose L-BFGS stopped short of the gradient tolerance, and the iterations of all. */
  async fit(rows: number[], starts?: Float64Array[]): Promise<{ params: Float64Array; blocks: Float64Array[]; unconverged: string[]; iterations: number }> {
    const blocks: Float64Array[] = [];
    const unconverged: string[] = [];
    let iterations = 0;
    for (const [b, p] of this.problems.entries()) {
      const result = await fitLogistic(p, rows, this.selections[b].weightDecay, starts?.[b] ?? this.selections[b].start);
      if (!result.converged) unconverged.push(`backbone ${b + 1}: ${result.iterations} iterations, max |gradient| ${result.gradMax.toExponential(1)}`);
      iterations += result.iterations;
      blocks.push(result.x);
    }
    return { params: stackedParameters(blocks, this.dims, this.weights, this.nClasses), blocks, unconverged, iterations };
  }

  get evaluations(): number {
    return this.problems.reduce((a, p) => a + p.evaluations, 0);
  }

  summary(concatenatedCvLoss: number, kept: boolean): StackingSummary {
    return { weights: this.weights, weightDecays: this.selections.map((s) => s.weightDecay), cvLoss: this.cvLoss, concatenatedCvLoss, kept };
  }

  async release(): Promise<void> {
    await Promise.all(this.problems.map((p) => p.release()));
  }
}
