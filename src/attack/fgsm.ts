/**
 * Fast gradient sign method (Goodfellow, Shlens & Szegedy 2014, "Explaining and Harnessing Adversarial
 * Examples"): one step x0 + ε·sign(∇L) (L∞), or its L2 form x0 + ε·∇L/‖∇L‖₂ (the fast gradient method),
 * then clipped to the pixel range. Default ε as torchattacks' FGSM: 8/255 = 8 pixel units.
 */
import { PIXEL_MAX, clipPixels, quantise, successMargin, type LossGradient, type Norm } from './common.js';
import { DEFAULT_MARGIN, type AttackGoal, type AttackResult, type BaseAttackOptions } from './iterative.js';
import { pgdStep } from './pgd.js';

export const FGSM_DEFAULTS: Record<Norm, { eps: number }> = {
  linf: { eps: 8 },
  l2: { eps: 1.0 * PIXEL_MAX },
};

export interface FgsmOptions extends BaseAttackOptions {
  norm?: Norm;
  eps?: number;
}

/** The FGSM image before clipping: x0 + direction·ε·sign(g) (L∞) or x0 + direction·ε·g/‖g‖₂ (L2). */
export function fgsmStep(x0: Float64Array, grad: Float64Array, norm: Norm, eps: number, direction: 1 | -1): Float64Array {
  const x = Float64Array.from(x0);
  pgdStep(x, grad, norm, eps, direction);
  return x;
}

/** Runs FGSM on a batch of images (pixel units): one gradient, one step, one check of the 8-bit result. */
export async function fgsm(lg: LossGradient, x0s: Float64Array[], goal: AttackGoal, opts: FgsmOptions = {}): Promise<AttackResult> {
  const norm = opts.norm ?? 'linf';
  const eps = opts.eps ?? FGSM_DEFAULTS[norm].eps;
  const direction = goal.targeted ? -1 : 1;
  const first = await lg.run(x0s, goal.sets);
  const adversarial = x0s.map((x0, i) => quantise(clipPixels(fgsmStep(x0, first.grads[i], norm, eps, direction)), x0, norm, eps));
  const check = await lg.run(adversarial, goal.sets);
  opts.progress?.increment();
  const margin = opts.margin ?? DEFAULT_MARGIN;
  return {
    adversarial,
    logits: check.logits,
    success: check.logits.map((z, i) => successMargin(z, new Set(goal.sets[i]), goal.targeted) > margin),
    evaluations: x0s.map(() => 2),
  };
}

