/**
 * The lesson's "adversarial cat": plain gradient descent on the image toward the target class,
 * x ← x − lr·∇ₓCE with x in [0, 1] image units (lr = 1, 100 steps), constrained only by the valid pixel
 * range unless an ε-ball is given. Untargeted goals ascend the loss of the true class instead.
 */
import { PIXEL_MAX, type LossGradient, type Norm } from './common.js';
import { iterate, type AttackGoal, type AttackResult, type BaseAttackOptions } from './iterative.js';

export const DESCENT_DEFAULTS = { steps: 100, learningRate: 1 };

export interface DescentOptions extends BaseAttackOptions {
  steps?: number;
  /** Step size in [0, 1] image units (the gradient is taken w.r.t. x/255). */
  learningRate?: number;
  /** Optional ball (pixel units); without it only [0, 255] constrains the image. */
  eps?: number;
  norm?: Norm;
  /** Extra steps from the 8-bit image until it fools after rounding (default: steps). */
  refineSteps?: number;
}

/** Runs plain gradient descent on a batch of images (pixel units). */
export async function descent(lg: LossGradient, x0s: Float64Array[], goal: AttackGoal, opts: DescentOptions = {}): Promise<AttackResult> {
  const steps = opts.steps ?? DESCENT_DEFAULTS.steps;
  const lr = opts.learningRate ?? DESCENT_DEFAULTS.learningRate;
  // In u = p/255 units, ∂L/∂u = 255·∂L/∂p and Δp = 255·Δu, so Δp = −lr·255²·∂L/∂p.
  const scale = lr * PIXEL_MAX * PIXEL_MAX;
  return iterate(lg, x0s, goal, {
    ...opts,
    steps,
    refineSteps: opts.refineSteps ?? steps,
    norm: opts.norm ?? 'linf',
    eps: opts.eps,
    step: (x, grad, direction) => {
      for (let i = 0; i < x.length; i++) x[i] += direction * scale * grad[i];
    },
  });
}
