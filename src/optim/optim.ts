import { GraftError } from '../util/errors.js';
import type { FloatArray } from '../math/rows.js';

/** JSON-safe optimiser state: step count plus per-parameter buffers (float64 values survive JSON exactly). */
export interface OptimizerState {
  kind: OptimizerKind;
  step: number;
  buffers: Record<string, number[][]>;
}

export type OptimizerKind = 'sgd' | 'adam' | 'adamw';

/** Updates parameters in place from their gradients; the learning rate is given per step (schedules live outside). */
export interface Optimizer {
  readonly kind: OptimizerKind;
  step(params: Float32Array[], grads: FloatArray[], lr: number): void;
  state(): OptimizerState;
  loadState(state: OptimizerState): void;
}

export interface SgdOptions {
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

/** torch.optim.SGD: g += wd·p; b = μ·b + (1−τ)·g (b = g on the first step); g = nesterov ? g + μ·b : b; p −= lr·g. */
export class SGD implements Optimizer {
  readonly kind = 'sgd';
  private readonly momentum: number;
  private readonly dampening: number;
  private readonly nesterov: boolean;
  private readonly weightDecay: number;
  private t = 0;
  private momentumBuffers: Float64Array[] = [];

  constructor(options: SgdOptions = {}) {
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new GraftError('BAD_ARGUMENT', 'SGD: Nesterov momentum requires momentum > 0 and zero dampening');
    }
  }

  step(params: Float32Array[], grads: FloatArray[], lr: number): void {
    checkShapes('SGD', params, grads);
    const { momentum: mu, dampening, nesterov, weightDecay: wd } = this;
    const first = this.t === 0;
    if (first && mu !== 0) this.momentumBuffers = params.map((p) => new Float64Array(p.length));
    if (mu !== 0) checkBuffers('SGD', params, this.momentumBuffers);
    for (let i = 0; i < params.length; i++) {
      const p = params[i];
      const g = grads[i];
      const buf = this.momentumBuffers[i];
      for (let j = 0; j < p.length; j++) {
        let d = g[j] + wd * p[j];
        if (mu !== 0) {
          buf[j] = first ? d : mu * buf[j] + (1 - dampening) * d;
          d = nesterov ? d + mu * buf[j] : buf[j];
        }
        p[j] -= lr * d;
      }
    }
    this.t++;
  }

  state(): OptimizerState {
    return { kind: this.kind, step: this.t, buffers: { momentum: this.momentumBuffers.map((b) => Array.from(b)) } };
  }

  loadState(state: OptimizerState): void {
    checkKind(this.kind, state);
    this.t = state.step;
    this.momentumBuffers = (state.buffers.momentum ?? []).map((b) => Float64Array.from(b));
  }
}

export interface AdamOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

/**
 * torch.optim.Adam (L2 weight decay added to the gradient) or, with `decoupled`, torch.optim.AdamW
 * (p ← p·(1 − lr·wd) before the Adam update).
 */
class AdamBase implements Optimizer {
  readonly kind: 'adam' | 'adamw';
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly weightDecay: number;
  private t = 0;
  private m: Float64Array[] = [];
  private v: Float64Array[] = [];

  protected constructor(kind: 'adam' | 'adamw', options: AdamOptions, defaultWeightDecay: number) {
    this.kind = kind;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? defaultWeightDecay;
  }

  step(params: Float32Array[], grads: FloatArray[], lr: number): void {
    checkShapes(this.kind, params, grads);
    if (this.t === 0) {
      this.m = params.map((p) => new Float64Array(p.length));
      this.v = params.map((p) => new Float64Array(p.length));
    }
    checkBuffers(this.kind, params, this.m);
    checkBuffers(this.kind, params, this.v);
    this.t++;
    const { beta1: b1, beta2: b2, eps } = this;
    const decoupled = this.kind === 'adamw';
    const l2 = decoupled ? 0 : this.weightDecay;
    const shrink = decoupled ? 1 - lr * this.weightDecay : 1;
    const stepSize = lr / (1 - b1 ** this.t);
    const sqrtBc2 = Math.sqrt(1 - b2 ** this.t);
    for (let i = 0; i < params.length; i++) {
      const p = params[i];
      const g = grads[i];
      const m = this.m[i];
      const v = this.v[i];
      for (let j = 0; j < p.length; j++) {
        const gj = g[j] + l2 * p[j];
        m[j] = b1 * m[j] + (1 - b1) * gj;
        v[j] = b2 * v[j] + (1 - b2) * gj * gj;
        p[j] = p[j] * shrink - (stepSize * m[j]) / (Math.sqrt(v[j]) / sqrtBc2 + eps);
      }
    }
  }

  state(): OptimizerState {
    return {
      kind: this.kind,
      step: this.t,
      buffers: { m: this.m.map((b) => Array.from(b)), v: this.v.map((b) => Array.from(b)) },
    };
  }

  loadState(state: OptimizerState): void {
    checkKind(this.kind, state);
    this.t = state.step;
    this.m = (state.buffers.m ?? []).map((b) => Float64Array.from(b));
    this.v = (state.buffers.v ?? []).map((b) => Float64Array.from(b));
  }
}

/** torch.optim.Adam: weight decay is an L2 term added to the gradient (default 0). */
export class Adam extends AdamBase {
  constructor(options: AdamOptions = {}) {
    super('adam', options, 0);
  }
}

/** torch.optim.AdamW: decoupled weight decay (default 0.01, as PyTorch). */
export class AdamW extends AdamBase {
  constructor(options: AdamOptions = {}) {
    super('adamw', options, 0.01);
  }
}

export interface OptimizerOptions extends SgdOptions, AdamOptions {}

/** Builds an optimiser by name. */
export function createOptimizer(kind: OptimizerKind, options: OptimizerOptions = {}): Optimizer {
  switch (kind) {
    case 'sgd':
      return new SGD(options);
    case 'adam':
      return new Adam(options);
    case 'adamw':
      return new AdamW(options);
    default:
      throw new GraftError('BAD_ARGUMENT', `unknown optimizer '${String(kind)}' (expected sgd, adam or adamw)`);
  }
}

/** Scales all gradients together so their global L2 norm is at most maxNorm (as torch.nn.utils.clip_grad_norm_); returns the norm before clipping. */
export function clipGradNorm(grads: FloatArray[], maxNorm: number): number {
  let sq = 0;
  for (const g of grads) for (let j = 0; j < g.length; j++) sq += g[j] * g[j];
  const norm = Math.sqrt(sq);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    for (const g of grads) for (let j = 0; j < g.length; j++) g[j] *= coef;
  }
  return norm;
}

function checkShapes(who: string, params: Float32Array[], grads: FloatArray[]): void {
  if (params.length !== grads.length) {
    throw new GraftError('SHAPE', `${who}.step: ${params.length} parameters but ${grads.length} gradients`);
  }
  for (let i = 0; i < params.length; i++) {
    if (params[i].length !== grads[i].length) {
      throw new GraftError('SHAPE', `${who}.step: parameter ${i} has ${params[i].length} values, its gradient ${grads[i].length}`);
    }
  }
}

function checkBuffers(who: string, params: Float32Array[], buffers: Float64Array[]): void {
  if (buffers.length !== params.length || buffers.some((b, i) => b.length !== params[i].length)) {
    throw new GraftError('CHECKPOINT', `${who}: optimizer state does not match the parameters it is stepping`);
  }
}

function checkKind(kind: OptimizerKind, state: OptimizerState): void {
  if (state?.kind !== kind) {
    throw new GraftError('CHECKPOINT', `cannot load '${String(state?.kind)}' optimizer state into ${kind}`);
  }
}
