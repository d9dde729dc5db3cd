/**
 * Saving and restoring a training run: parameter and optimiser values, the best epoch so far, the history and
 * the position inside the epoch, in one atomic checkpoint file (checkpoint.ts). A restored run continues with
 * exactly the batches and values an uninterrupted one would have.
 */
import { GraftError } from '../../util/errors.js';
import type { EpochRow } from '../../report/history.js';
import type { OptimizerKind, OptimizerState } from '../../optim/optim.js';
import { readCheckpoint, writeCheckpoint, type CheckpointArray } from './checkpoint.js';
import { BestModel, NO_SCORE, type Score } from './evaluation.js';
import type { TrainingStep } from './step.js';

/** Running sums of the epoch in progress. */
export interface EpochProgress {
  loss: number;
  correct: number;
  seen: number;
  seconds: number;
}

export const emptyProgress = (): EpochProgress => ({ loss: 0, correct: 0, seen: 0, seconds: 0 });

/** Where a run stands, besides its parameter values. */
export interface RunState {
  history: EpochRow[];
  /** Completed epochs. */
  epoch: number;
  /** Steps already taken in epoch `epoch` (non-zero only for a checkpoint written on a signal). */
  step: number;
  partial: EpochProgress;
  valRows: number[];
  best: BestModel;
}

interface LoopMeta {
  format: 'graft-training';
  version: 1;
  request: Record<string, unknown>;
  epoch: number;
  step: number;
  partial: EpochProgress;
  history: EpochRow[];
  bestEpoch: number;
  bestScore: Score;
  optimizers: { group: string; kind: OptimizerKind; step: number; buffers: Record<string, number> }[];
  tensors: string[];
  valRows: number[];
}

/** Writes DIR/checkpoint.bin for `state` and the step's current values. */
export async function saveRun(dir: string, request: Record<string, unknown>, groups: string[], step: TrainingStep, state: RunState): Promise<void> {
  const tensors = new Map<string, CheckpointArray>();
  for (const [n, v] of step.values) tensors.set(`value:${n}`, v);
  for (const [n, v] of state.best.values) tensors.set(`best:${n}`, v);
  if (state.best.valLogits) tensors.set('bestValLogits', state.best.valLogits);
  const optimizerMeta = step.optimizers.map((o, i) => optimizerMetaOf(groups[i], o.state(), tensors));
  const meta: LoopMeta = {
    format: 'graft-training', version: 1, request, epoch: state.epoch, step: state.step, partial: state.partial, history: state.history,
    bestEpoch: state.best.epoch, bestScore: Number.isFinite(state.best.score.acc) ? state.best.score : NO_SCORE,
    optimizers: optimizerMeta, tensors: step.fedNames, valRows: state.valRows,
  };
  await writeCheckpoint(dir, meta, tensors);
}

/** Loads DIR's checkpoint into the step (values, optimiser state) and returns the run state; it must match `request`. */
export function restoreRun(dir: string, request: Record<string, unknown>, step: TrainingStep): RunState {
  const ck = readCheckpoint<LoopMeta>(dir);
  if (!ck) throw new GraftError('CHECKPOINT', `${dir}: no checkpoint to resume from`);
  checkSameRequest(ck.meta.request, request, dir);
  const best = new Map<string, Float32Array>();
  for (const name of step.fedNames) {
    const v = ck.tensors.get(`value:${name}`);
    const bv = ck.tensors.get(`best:${name}`);
    if (!(v instanceof Float32Array) || !(bv instanceof Float32Array) || v.length !== step.values.get(name)!.length) {
      throw new GraftError('CHECKPOINT', `${dir}: parameter ${name} is missing or has the wrong size`);
    }
    step.values.set(name, Float32Array.from(v));
    best.set(name, Float32Array.from(bv));
  }
  ck.meta.optimizers.forEach((o, i) => step.optimizers[i].loadState(optimizerStateFrom(o, ck.tensors)));
  const { history, valRows, epoch, partial } = ck.meta;
  return {
    history, valRows, epoch, step: ck.meta.step, partial,
    best: new BestModel(ck.meta.bestEpoch, ck.meta.bestScore, best, ck.tensors.get('bestValLogits') as Float32Array | undefined),
  };
}

function optimizerMetaOf(group: string, state: OptimizerState, tensors: Map<string, CheckpointArray>): LoopMeta['optimizers'][number] {
  const buffers: Record<string, number> = {};
  for (const [key, list] of Object.entries(state.buffers)) {
    buffers[key] = list.length;
    list.forEach((b, i) => tensors.set(`opt:${group}:${key}:${i}`, Float64Array.from(b)));
  }
  return { group, kind: state.kind, step: state.step, buffers };
}

function optimizerStateFrom(meta: LoopMeta['optimizers'][number], tensors: Map<string, CheckpointArray>): OptimizerState {
  const buffers: Record<string, number[][]> = {};
  for (const [key, count] of Object.entries(meta.buffers)) {
    buffers[key] = Array.from({ length: count }, (_, i) => Array.from(tensors.get(`opt:${meta.group}:${key}:${i}`) ?? []));
  }
  return { kind: meta.kind, step: meta.step, buffers };
}

function checkSameRequest(stored: Record<string, unknown>, given: Record<string, unknown>, where: string): void {
  for (const key of new Set([...Object.keys(stored), ...Object.keys(given)])) {
    if (key === 'extra') continue;
    if (JSON.stringify(stored[key]) !== JSON.stringify(given[key])) {
      throw new GraftError('CHECKPOINT', `${where}: the checkpoint was written with ${key} = ${JSON.stringify(stored[key])}, this run has ${JSON.stringify(given[key])}`);
    }
  }
}
