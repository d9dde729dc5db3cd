/**
 * Projected gradient descent (Madry et al. 2017, "Towards Deep Learning Models Resistant to Adversarial
 * Attacks"): a random start inside the ε-ball, then `steps` steps of size α — the gradient's sign for L∞,
 * the gradient scaled to length α for L2 — each followed by projection onto the ε-ball and the pixel range.
 * Defaults follow torchattacks (PGD: ε = 8/255, α = 2/255, 10 steps; PGDL2: ε = 1, α = 0.2, 10 steps),
 * converted to 0–255 pixel units.
 */
import { Rng } from '../util/rng.js';
import { PIXEL_MAX, type LossGradient, type Norm } from './common.js';
import { iterate, type AttackGoal, type AttackResult, type BaseAttackOptions } from './iterative.js';

export const PGD_DEFAULTS: Record<Norm, { eps: number; stepSize: number; steps: number }> = {
  linf: { eps: 8, stepSize: 2, steps: 10 },
  l2: { eps: 1.0 * PIXEL_MAX, stepSize: 0.2 * PIXEL_MAX, steps: 10 },
};

export interface PgdOptions extends BaseAttackOptions {
  norm?: Norm;
  /** Ball radius in pixel units. */
  eps?: number;
  /** α in pixel units. */
  stepSize?: number;
  steps?: number;
  /** Start at a uniformly random point of the ball (default true). */
  randomStart?: boolean;
  seed?: number;
  /** Extra steps from the 8-bit image until it fools after rounding (default: steps). */
  refineSteps?: number;
}

/** A random point of the L∞ or L2 ball of radius eps around x0 (the L2 draw as torchattacks: random direction, radius ε·U(0,1)). */
export function randomInBall(x0: Float64Array, norm: Norm, eps: number, rng: Rng): Float64Array {
  if (norm === 'linf') return x0.map((v) => v + rng.uniform(-eps, eps));
  const d = Float64Array.from(x0, () => rng.normal());
  const length = Math.sqrt(d.reduce((s, v) => s + v * v, 0));
  const radius = eps * rng.next();
  return x0.map((v, i) => v + (d[i] / length) * radius);
}

/** The PGD step before projection: x += direction·α·sign(g) (L∞) or direction·α·g/‖g‖₂ (L2). */
export function pgdStep(x: Float64Array, grad: Float64Array, norm: Norm, stepSize: number, direction: 1 | -1): void {
  if (norm === 'linf') {
    for (let i = 0; i < x.length; i++) x[i] += direction * stepSize * Math.sign(grad[i]);
    return;
  }
  const length = Math.sqrt(grad.reduce((s, v) => s + v * v, 0)) + 1e-12;
  for (let i = 0; i < x.length; i++) x[i] += (direction * stepSize * grad[i]) / length;
}

/** Runs PGD on a batch of images (pixel units); targeted goals are approached, untargeted ones left. */
export async function pgd(lg: LossGradient, x0s: Float64Array[], goal: AttackGoal, opts: PgdOptions = {}): Promise<AttackResult> {
  const norm = opts.norm ?? 'linf';
  const d = PGD_DEFAULTS[norm];
  const eps = opts.eps ?? d.eps;
  const stepSize = opts.stepSize ?? d.stepSize;
  const steps = opts.steps ?? d.steps;
  const rng = new Rng(opts.seed ?? 0);
  return iterate(lg, x0s, goal, {
    ...opts,
    steps,
    refineSteps: opts.refineSteps ?? steps,
    norm,
    eps,
    init: opts.randomStart === false ? undefined : (x0) => randomInBall(x0, norm, eps, rng),
    step: (x, grad, direction) => pgdStep(x, grad, norm, stepSize, direction),
  });
}
