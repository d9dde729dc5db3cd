import { GraftError } from '../util/errors.js';

/**
 * A learning-rate schedule: the factor applied to the base learning rate at optimiser step `step`
 * (0-based, of `totalSteps`), which falls in 0-based `epoch`. Pure: same arguments, same factor.
 */
export type LrSchedule = (step: number, totalSteps: number, epoch: number) => number;

/** Factor 1 throughout. */
export function constantSchedule(): LrSchedule {
  return () => 1;
}

/** γ^epoch, as torch ExponentialLR stepped once per epoch. */
export function exponentialSchedule(gamma: number): LrSchedule {
  return (_step, _total, epoch) => gamma ** epoch;
}

/** γ^⌊epoch / every⌋, as torch StepLR stepped once per epoch. */
export function stepSchedule(every: number, gamma: number): LrSchedule {
  return (_step, _total, epoch) => gamma ** Math.floor(epoch / every);
}

/** Cosine annealing per step from 1 to `floor` (reached at step = totalSteps), as torch CosineAnnealingLR with T_max = totalSteps. */
export function cosineSchedule(floor = 0): LrSchedule {
  return (step, totalSteps) => {
    const pct = Math.min(step, totalSteps) / Math.max(1, totalSteps);
    return floor + ((1 - floor) * (1 + Math.cos(Math.PI * pct))) / 2;
  };
}

export interface OneCycleOptions {
  pctStart?: number;
  divFactor?: number;
  finalDivFactor?: number;
}

/**
 * torch OneCycleLR (two phases, cosine annealing), as a factor of max_lr: from 1/div up to 1 at step
 * pctStart·T − 1, then down to 1/(div·finalDiv) at step T − 1.
 */
export function oneCycleSchedule(options: OneCycleOptions = {}): LrSchedule {
  const pctStart = options.pctStart ?? 0.25;
  const div = options.divFactor ?? 25;
  const finalDiv = options.finalDivFactor ?? 1e4;
  const initial = 1 / div;
  const min = initial / finalDiv;
  const anneal = (start: number, end: number, pct: number): number => end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);
  return (step, totalSteps) => {
    const warmEnd = pctStart * totalSteps - 1;
    const end = totalSteps - 1;
    if (step <= warmEnd) return anneal(initial, 1, warmEnd > 0 ? step / warmEnd : 1);
    return anneal(1, min, end > warmEnd ? Math.min(1, (step - warmEnd) / (end - warmEnd)) : 1);
  };
}

/** Parses 'constant' | 'exp:γ' | 'step:k:γ' | 'cosine[:floor]' | 'onecycle[:pctStart[:div[:finalDiv]]]'. */
export function parseSchedule(spec: string): LrSchedule {
  const [name, ...rawArgs] = spec.trim().toLowerCase().split(':');
  const args = rawArgs.map((a) => {
    const v = Number(a);
    if (a === '' || !Number.isFinite(v)) throw new GraftError('BAD_ARGUMENT', `schedule '${spec}': '${a}' is not a number`);
    return v;
  });
  const arity = (min: number, max: number): void => {
    if (args.length < min || args.length > max) {
      throw new GraftError('BAD_ARGUMENT', `schedule '${spec}': ${name} takes ${min === max ? min : `${min}–${max}`} argument(s), got ${args.length}`);
    }
  };
  const positive = (v: number, what: string): number => {
    if (!(v > 0)) throw new GraftError('BAD_ARGUMENT', `schedule '${spec}': ${what} must be > 0`);
    return v;
  };
  switch (name) {
    case 'constant':
      arity(0, 0);
      return constantSchedule();
    case 'exp':
      arity(1, 1);
      return exponentialSchedule(positive(args[0], 'γ'));
    case 'step':
      arity(2, 2);
      if (!Number.isInteger(args[0]) || args[0] < 1) throw new GraftError('BAD_ARGUMENT', `schedule '${spec}': step size must be a positive integer`);
      return stepSchedule(args[0], positive(args[1], 'γ'));
    case 'cosine':
      arity(0, 1);
      if (args.length && !(args[0] >= 0 && args[0] < 1)) throw new GraftError('BAD_ARGUMENT', `schedule '${spec}': floor must be in [0, 1)`);
      return cosineSchedule(args[0] ?? 0);
    case 'onecycle': {
      arity(0, 3);
      const [pctStart, divFactor, finalDivFactor] = args;
      if (pctStart !== undefined && !(pctStart > 0 && pctStart < 1)) throw new GraftError('BAD_ARGUMENT', `schedule '${spec}': pctStart must be in (0, 1)`);
      if (divFactor !== undefined) positive(divFactor, 'div');
      if (finalDivFactor !== undefined) positive(finalDivFactor, 'final div');
      return oneCycleSchedule({ pctStart, divFactor, finalDivFactor });
    }
    default:
      throw new GraftError('BAD_ARGUMENT', `unknown schedule '${spec}' (expected constant, exp:γ, step:k:γ, cosine[:floor] or onecycle)`);
  }
}
