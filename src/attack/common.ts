/**
 * Shared pieces of the attacks. Attacks keep their state in 0–255 pixel units (Float64, laid out like one
 * image of the network tensor: network channel order, CHW or HWC), so that ε-balls, the valid pixel range
 * and 8-bit quantisation are exact; the model's normalisation is applied only when feeding the network.
 */
import { PIXEL_MAX, batchDims, pixelsToTensor, tensorGradToPixels } from '../image/layout.js';
import type { GraftModel } from '../models/load.js';
import { logitsTensor } from '../models/logits.js';
import { GradientRunner, type Objective, type ObjectiveContext } from '../autodiff/index.js';
import { float32 } from '../runtime/session.js';
import { attr } from '../onnx/types.js';
import type { GraphBuilder } from '../onnx/graph.js';
import { GraftError } from '../util/errors.js';
import { logSumExp } from '../math/rows.js';

export type Norm = 'linf' | 'l2';
// The pixel ↔ tensor layout and its adjoint live in image/layout; the attacks' public API includes them.
export {
  PIXEL_MAX, channelAt, cropToPixels, pixelsToCrop, pixelsToTensor, tensorDeltaToPixels, tensorGradToPixels,
} from '../image/layout.js';

/** Clips every value into the valid pixel range [0, 255] (in place). */
export function clipPixels(x: Float64Array): Float64Array {
  for (let i = 0; i < x.length; i++) x[i] = Math.min(PIXEL_MAX, Math.max(0, x[i]));
  return x;
}

/** Projects x onto {‖x − x0‖∞ ≤ ε} ∩ [0, 255] (in place): the exact Euclidean projection, a per-element clip. */
export function projectLinf(x: Float64Array, x0: Float64Array, eps: number): Float64Array {
  for (let i = 0; i < x.length; i++) {
    x[i] = Math.min(Math.min(PIXEL_MAX, x0[i] + eps), Math.max(Math.max(0, x0[i] - eps), x[i]));
  }
  return x;
}

function sumSquares(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}

/**
 * Projects x onto {‖x − x0‖₂ ≤ ε} ∩ [0, 255] (in place), exactly: by the KKT conditions the projection is
 * x0 + clip(d/(1+λ)) for d = x − x0 and the smallest λ ≥ 0 that makes the clipped norm ≤ ε; λ is found by
 * bisection and the feasible end of the bracket is kept.
 */
export function projectL2(x: Float64Array, x0: Float64Array, eps: number): Float64Array {
  const n = x.length;
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) d[i] = x[i] - x0[i];
  const clipped = (lambda: number, out: Float64Array) => {
    for (let i = 0; i < n; i++) out[i] = Math.min(PIXEL_MAX - x0[i], Math.max(-x0[i], d[i] / (1 + lambda)));
    return out;
  };
  const eps2 = eps * eps;
  const trial = new Float64Array(n);
  if (sumSquares(clipped(0, trial)) <= eps2) {
    for (let i = 0; i < n; i++) x[i] = x0[i] + trial[i];
    return x;
  }
  if (eps === 0) return x.set(x0), x;
  let lo = 0;
  let hi = Math.sqrt(sumSquares(d)) / eps - 1;
  // Clipping only shrinks, so at `hi` (‖d‖/(1+hi) = ε) the clipped norm is ≤ ε; nudge for rounding.
  while (sumSquares(clipped(hi, trial)) > eps2) hi = hi * 1.0001 + 1e-12;
  for (let it = 0; it < 60 && hi - lo > 1e-12 * (1 + hi); it++) {
    const mid = (lo + hi) / 2;
    if (sumSquares(clipped(mid, trial)) > eps2) lo = mid;
    else hi = mid;
  }
  clipped(hi, trial);
  for (let i = 0; i < n; i++) x[i] = x0[i] + trial[i];
  return x;
}

/** Projects onto the ε-ball of the norm (or only the pixel range when eps is undefined), in place. */
export function project(x: Float64Array, x0: Float64Array, norm: Norm, eps: number | undefined): Float64Array {
  if (eps === undefined) return clipPixels(x);
  return norm === 'linf' ? projectLinf(x, x0, eps) : projectL2(x, x0, eps);
}

/**
 * Rounds to 8-bit pixel values while staying inside the ε-ball and the pixel range (x0 is integer-valued).
 * L∞: round, then clip to [⌈x0−ε⌉, ⌊x0+ε⌋]. L2: round; if that pushed the norm over ε, the elements that
 * rounding enlarged the most are truncated toward x0 instead until it fits (truncation never grows |δ|).
 */
export function quantise(x: Float64Array, x0: Float64Array, norm: Norm, eps: number | undefined): Float64Array {
  const q = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) q[i] = Math.min(PIXEL_MAX, Math.max(0, Math.round(x[i])));
  if (eps === undefined) return q;
  if (norm === 'linf') {
    for (let i = 0; i < q.length; i++) q[i] = Math.min(Math.floor(x0[i] + eps), Math.max(Math.ceil(x0[i] - eps), q[i]));
    return q;
  }
  let total = 0;
  for (let i = 0; i < q.length; i++) total += (q[i] - x0[i]) ** 2;
  if (total <= eps * eps) return q;
  const grown: number[] = [];
  for (let i = 0; i < q.length; i++) if (Math.abs(q[i] - x0[i]) > Math.abs(x[i] - x0[i])) grown.push(i);
  grown.sort((a, b) => (Math.abs(q[b] - x0[b]) - Math.abs(x[b] - x0[b])) - (Math.abs(q[a] - x0[a]) - Math.abs(x[a] - x0[a])));
  for (const i of grown) {
    if (total <= eps * eps) break;
    const truncated = x0[i] + Math.trunc(x[i] - x0[i]);
    total += (truncated - x0[i]) ** 2 - (q[i] - x0[i]) ** 2;
    q[i] = truncated;
  }
  return q;
}

/** Largest absolute difference. */
export function linfDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Euclidean distance. */
export function l2Distance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

/** Peak signal-to-noise ratio in dB for 8-bit images (Infinity when identical). */
export function psnr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const mse = l2Distance(a, b) ** 2 / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((PIXEL_MAX * PIXEL_MAX) / mse);
}

/**
 * How far a row of logits is past the decision the attack wants: for a targeted attack,
 * max over the set − max outside it; untargeted, the reverse. The attack has succeeded when it is > 0.
 */
export function successMargin(logits: ArrayLike<number>, set: ReadonlySet<number>, targeted: boolean): number {
  let inside = -Infinity;
  let outside = -Infinity;
  for (let c = 0; c < logits.length; c++) {
    if (set.has(c)) inside = Math.max(inside, logits[c]);
    else outside = Math.max(outside, logits[c]);
  }
  return targeted ? inside - outside : outside - inside;
}

const LOGITS_OUT = 'attack_logits';

const QUANTISED_OPS = /^(QuantizeLinear|DynamicQuantizeLinear|QLinear.*|ConvInteger|MatMulInteger)$/;

/** Integer (quantised) graphs carry no gradient from the logits back to the image: say so instead of attacking with a zero gradient. */
function rejectQuantised(m: GraftModel): void {
  const node = m.model.graph.nodes.find((n) => QUANTISED_OPS.test(n.opType));
  if (node) {
    throw new GraftError(
      'UNSUPPORTED_OP',
      `${m.id} is quantised (op ${node.opType} in node "${node.name}"): integer ops are not differentiable, so gradient attacks cannot run on it; attack a float model and use this one with --transfer-to`,
    );
  }
}

/** −log of the softmax probability mass of a class set, from one row of logits (computed stably). */
export function setLoss(logits: ArrayLike<number>, set: readonly number[]): number {
  return logSumExp(logits) - logSumExp(set.map((c) => logits[c]));
}

export interface LossGradientResult {
  /** −log p(set) of each image (padding rows dropped). */
  losses: number[];
  /** ∂loss/∂pixels of each image (pixel units, tensor layout); rows of padding are dropped. */
  grads: Float64Array[];
  /** Logits [C] of each image at the evaluated point. */
  logits: Float32Array[];
}

/**
 * A compiled gradient of L = Σₙ −log pₙ(Sₙ) w.r.t. the input image, where pₙ(S) is the softmax probability
 * mass of a class set Sₙ. For a single class this is the usual cross-entropy. Per-image gradients do not
 * depend on the batch (a sum, not a mean). Computed stably as −log p_r − log Σ_{c∈S} exp(log p_c − log p_r)
 * for a reference class r ∈ S chosen as the set's current best (so the sum is ≥ 1).
 */
export class LossGradient {
  private constructor(
    private readonly runner: GradientRunner,
    readonly m: GraftModel,
    readonly batch: number,
    readonly classes: number,
    private readonly itemSize: number,
  ) {}

  /** Compiles the gradient graph for batches of `batch` images. */
  static async create(m: GraftModel, batch: number): Promise<LossGradient> {
    rejectQuantised(m);
    const [h, w] = m.preprocess.size;
    const inputDims = batchDims(batch, m.preprocess);
    const classes = m.labels.length;
    const objective = (b: GraphBuilder, ctx: ObjectiveContext): Objective => {
      const z = logitsTensor(m, b, ctx.shapes());
      b.node('Identity', [z], {}, { outputs: [LOGITS_OUT], name: 'attack_keep_logits' });
      const perRow = (x: string) => b.op('ReduceSum', [x, b.constInt64('attack_class_axis', [1])], { keepdims: attr.i(1) });
      const logp = b.op('LogSoftmax', [z], { axis: attr.i(-1) });
      b.input('attack_ref', 'float32', [batch, classes]);
      b.input('attack_set', 'float32', [batch, classes]);
      const refLogp = perRow(b.op('Mul', [logp, 'attack_ref']));
      const rest = b.op('Log', [perRow(b.op('Mul', [b.op('Exp', [b.op('Sub', [logp, refLogp])]), 'attack_set']))]);
      const target = b.op('Neg', [b.op('ReduceSum', [b.op('Add', [refLogp, rest])], { keepdims: attr.i(0) })]);
      return { target, keepOutputs: [LOGITS_OUT], inputShapes: { attack_ref: [batch, classes], attack_set: [batch, classes] } };
    };
    const runner = await GradientRunner.create(m.model, objective, { wrt: [m.inputName], inputShapes: { [m.inputName]: inputDims } });
    return new LossGradient(runner, m, batch, classes, 3 * h * w);
  }

  /**
   * Evaluates at images `px` (at most `batch` of them) with class sets `sets`; `refs[n]` ∈ sets[n] is the
   * reference class (default: the set's first member).
   */
  async run(px: Float64Array[], sets: readonly (readonly number[])[], refs?: readonly number[]): Promise<LossGradientResult> {
    const n = px.length;
    if (n === 0 || n > this.batch) throw new GraftError('BAD_ARGUMENT', `LossGradient: ${n} images for a batch of ${this.batch}`);
    const pre = this.m.preprocess;
    const C = this.classes;
    const input = new Float32Array(this.batch * this.itemSize);
    const ref = new Float32Array(this.batch * C);
    const set = new Float32Array(this.batch * C);
    for (let r = 0; r < this.batch; r++) {
      const k = Math.min(r, n - 1);
      pixelsToTensor(px[k], pre, input, r * this.itemSize);
      const members = sets[k];
      for (const c of members) {
        if (c < 0 || c >= C) throw new GraftError('UNKNOWN_CLASS', `class index ${c} is out of range (0–${C - 1}) for ${this.m.id}`);
        set[r * C + c] = 1;
      }
      const rc = refs?.[k] ?? members[0];
      if (!members.includes(rc)) throw new GraftError('BAD_ARGUMENT', `reference class ${rc} is not in the class set`);
      ref[r * C + rc] = 1;
    }
    const dims = batchDims(this.batch, pre);
    const out = await this.runner.run({
      [this.m.inputName]: float32(input, dims),
      attack_ref: float32(ref, [this.batch, C]),
      attack_set: float32(set, [this.batch, C]),
    });
    const g = out.grads[this.m.inputName];
    const logits = out.outputs[LOGITS_OUT];
    const rows = Array.from({ length: n }, (_, r) => logits.slice(r * C, (r + 1) * C));
    return {
      losses: rows.map((z, r) => setLoss(z, sets[r])),
      grads: Array.from({ length: n }, (_, r) => tensorGradToPixels(g.subarray(r * this.itemSize, (r + 1) * this.itemSize), pre)),
      logits: rows,
    };
  }

  async release(): Promise<void> {
    await this.runner.release();
  }
}
