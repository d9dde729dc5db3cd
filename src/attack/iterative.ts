/**
 * The loop shared by the iterative attacks (PGD, plain descent): `steps` projected gradient steps in
 * continuous pixel space, then up to `refineSteps` more taken from the 8-bit quantised image, so that what
 * is returned still fools the model after it is saved as a PNG and read back. Gradients during refinement
 * are taken at the quantised point but applied to the continuous iterate (rounding would erase small steps).
 */
import type { ProgressTask } from '../util/progress.js';
import { project, quantise, successMargin, type LossGradient, type Norm } from './common.js';

export interface AttackGoal {
  /** true: reach the class set; false: leave it. */
  targeted: boolean;
  /** Per image: the classes to reach (targeted) or to leave (untargeted: the true class or classes). */
  sets: number[][];
}

export interface AttackResult {
  /** 8-bit (integer-valued) adversarial pixels per image, inside the ε-ball and [0, 255]. */
  adversarial: Float64Array[];
  /** Logits at the adversarial pixels (from the gradient graph). */
  logits: Float32Array[];
  /** Whether the goal is met on the quantised image by more than the margin. */
  success: boolean[];
  /** Gradient evaluations spent on each image. */
  evaluations: number[];
}

/** Settings common to every attack. */
export interface BaseAttackOptions {
  /** Logit margin by which the quantised image must pass the decision boundary (absorbs float differences between graphs). Default 0.1. */
  margin?: number;
  /** Advanced once per gradient evaluation of a batch. */
  progress?: ProgressTask;
}

export const DEFAULT_MARGIN = 0.1;

export interface IterativeOptions extends BaseAttackOptions {
  steps: number;
  refineSteps: number;
  norm: Norm;
  /** Radius of the allowed perturbation in pixel units; undefined: only the pixel range constrains it. */
  eps?: number;
  /** Starting point for image i (default: the original). */
  init?: (x0: Float64Array, i: number) => Float64Array;
  /** Moves x in place along the gradient; direction is −1 to descend the loss (targeted), +1 to ascend. */
  step: (x: Float64Array, grad: Float64Array, direction: 1 | -1) => void;
}

/** Class of the set with the highest logit: the stable reference class of the loss. */
function bestInSet(logits: Float32Array, set: number[]): number {
  return set.reduce((best, c) => (logits[c] > logits[best] ? c : best), set[0]);
}

/** Runs an iterative attack on a batch of images (at most the LossGradient's batch size). */
export async function iterate(lg: LossGradient, x0s: Float64Array[], goal: AttackGoal, opts: IterativeOptions): Promise<AttackResult> {
  const n = x0s.length;
  const direction = goal.targeted ? -1 : 1;
  const margin = opts.margin ?? DEFAULT_MARGIN;
  const x = x0s.map((x0, i) => project(opts.init ? opts.init(x0, i) : Float64Array.from(x0), x0, opts.norm, opts.eps));
  const refs = goal.sets.map((s) => s[0]);
  const evaluations = new Array<number>(n).fill(0);
  const gradientStep = (i: number, grad: Float64Array, logits: Float32Array) => {
    refs[i] = bestInSet(logits, goal.sets[i]);
    opts.step(x[i], grad, direction);
    project(x[i], x0s[i], opts.norm, opts.eps);
  };
  for (let it = 0; it < opts.steps; it++) {
    const r = await lg.run(x, goal.sets, refs);
    for (let i = 0; i < n; i++) {
      evaluations[i]++;
      gradientStep(i, r.grads[i], r.logits[i]);
    }
    opts.progress?.increment();
  }
  const q = x.map((xi, i) => quantise(xi, x0s[i], opts.norm, opts.eps));
  const logits = new Array<Float32Array>(n);
  const success = new Array<boolean>(n).fill(false);
  let active = Array.from({ length: n }, (_, i) => i);
  for (let it = 0; it <= opts.refineSteps && active.length; it++) {
    const r = await lg.run(active.map((i) => q[i]), active.map((i) => goal.sets[i]), active.map((i) => refs[i]));
    const still: number[] = [];
    active.forEach((i, k) => {
      evaluations[i]++;
      logits[i] = r.logits[k];
      if (successMargin(r.logits[k], new Set(goal.sets[i]), goal.targeted) > margin) {
        success[i] = true;
      } else if (it < opts.refineSteps) {
        gradientStep(i, r.grads[k], r.logits[k]);
        q[i] = quantise(x[i], x0s[i], opts.norm, opts.eps);
        still.push(i);
      }
    });
    active = still;
    opts.progress?.increment();
  }
  return { adversarial: q, logits, success, evaluations };
}
