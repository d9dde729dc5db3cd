/** The attack methods by name, their defaults, and one entry point that dispatches to them. */
import type { Norm, LossGradient } from './common.js';
import type { ProgressTask } from '../util/progress.js';
import type { AttackGoal, AttackResult } from './iterative.js';
import { descent, DESCENT_DEFAULTS } from './descent.js';
import { fgsm, FGSM_DEFAULTS } from './fgsm.js';
import { pgd, PGD_DEFAULTS } from './pgd.js';

export type Method = 'descent' | 'fgsm' | 'pgd';
export const METHODS: readonly Method[] = ['descent', 'fgsm', 'pgd'];

export interface AttackSettings {
  method: Method;
  norm: Norm;
  /** Pixel units; default per method and norm (descent: none). */
  eps?: number;
  steps?: number;
  /** α in pixel units for PGD; the learning rate in [0, 1] image units for descent. */
  stepSize?: number;
  seed?: number;
  margin?: number;
  refineSteps?: number;
}

/** The settings with every default filled in, as reported. */
export function resolveSettings(s: AttackSettings): AttackSettings {
  const given = { ...defined(s), method: s.method, norm: s.norm };
  if (s.method === 'pgd') return { ...PGD_DEFAULTS[s.norm], ...given };
  if (s.method === 'fgsm') return { ...FGSM_DEFAULTS[s.norm], steps: 1, ...given };
  return { steps: DESCENT_DEFAULTS.steps, stepSize: DESCENT_DEFAULTS.learningRate, ...given };
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Runs the chosen attack on a batch of images in pixel units. */
export async function runAttack(lg: LossGradient, x0s: Float64Array[], goal: AttackGoal, s: AttackSettings, progress?: ProgressTask): Promise<AttackResult> {
  const common = { norm: s.norm, eps: s.eps, steps: s.steps, margin: s.margin, refineSteps: s.refineSteps, progress };
  if (s.method === 'pgd') return pgd(lg, x0s, goal, { ...common, stepSize: s.stepSize, seed: s.seed });
  if (s.method === 'fgsm') return fgsm(lg, x0s, goal, common);
  return descent(lg, x0s, goal, { ...common, learningRate: s.stepSize });
}
