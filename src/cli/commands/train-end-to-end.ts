/** `graft train --fine-tune | --from-scratch | --model scratch-cnn | --resume DIR`: flags → trainEndToEnd, signals → checkpoint. */
import path from 'node:path';
import type { Command } from 'commander';
import { trainEndToEnd } from '../../train/finetune/pipeline.js';
import { formatEpochRow } from '../../train/fit.js';
import type { HeadKind } from '../../train/heads.js';
import type { Pooling } from '../../train/extract.js';
import type { OptimizerKind } from '../../optim/optim.js';
import { GraftError } from '../../util/errors.js';
import { intOption, modelFromFlags, numberOption, printJson, unfreezeBlocksOption, type ModelFlags } from '../common.js';
import { terminalProgress } from '../progress.js';
import { invocation } from '../invocation.js';
import { printRunReport } from '../print-report.js';

export interface EndToEndFlags {
  fineTune?: boolean; unfreeze?: string; unfreezeBlocks: string; backboneLrMult: string; epochsHead: string; augment: boolean;
  fromScratch?: boolean; inputSize?: string; resume?: string;
}

interface Flags extends ModelFlags, EndToEndFlags {
  tap?: string; pooling: string; standardize: boolean; head: string; hidden?: string; dropout?: string; epochs: string; lr: string; batch: string;
  optimizer: string; schedule: string; weightDecay?: string; labelSmoothing?: string; val?: string; target?: string; out: string; json?: boolean; plots: boolean;
}

const isScratchCnn = (model?: string) => model === 'scratch-cnn' || model === 'scratch_cnn';

/** Whether the flags ask for end-to-end training rather than a head on frozen features. */
export function wantsEndToEnd(f: EndToEndFlags & ModelFlags): boolean {
  return !!(f.fineTune || f.fromScratch || f.resume || isScratchCnn(f.model));
}

/** Runs the end-to-end branch of `graft train`; SIGINT/SIGTERM finish the current step and write a checkpoint (twice: quit now). */
export async function runEndToEnd(dataset: string, f: Flags, cmd: Command): Promise<void> {
  const given = (option: string) => cmd.getOptionValueSource(option) === 'cli';
  const log = f.json ? (l: string) => console.error(l) : (l: string) => console.log(l);
  const scratch = !f.resume && (f.fromScratch || isScratchCnn(f.model));
  if (scratch && !isScratchCnn(f.model) && !f.randomWeights) {
    throw new GraftError('BAD_ARGUMENT', '--from-scratch trains random weights: add --random-weights (or use --model scratch-cnn)');
  }
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    console.error(`\n${signal}: finishing the current step, then writing a checkpoint (again to quit at once)`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const optional = <T>(option: string, parse: () => T): T | undefined => (given(option) ? parse() : undefined);
  try {
    const report = await trainEndToEnd(dataset, {
      out: f.resume && !given('out') ? path.dirname(path.resolve(f.resume)) : f.out,
      resume: f.resume,
      model: scratch || f.resume ? undefined : await modelFromFlags(f),
      architecture: scratch ? f.model ?? 'scratch_cnn' : undefined,
      inputSize: f.inputSize ? intOption(f.inputSize, '--input-size') : undefined,
      tap: f.tap, pooling: f.pooling as Pooling,
      unfreeze: f.unfreeze ? { layer: f.unfreeze } : unfreezeBlocksOption(f.unfreezeBlocks),
      backboneLrMult: numberOption(f.backboneLrMult, '--backbone-lr-mult'),
      head: {
        epochs: intOption(f.epochsHead, '--epochs-head'), head: f.head as HeadKind, standardize: f.standardize,
        hidden: f.hidden?.split(',').map((h) => intOption(h, '--hidden')), dropout: f.dropout ? numberOption(f.dropout, '--dropout') : undefined,
      },
      epochs: optional('epochs', () => intOption(f.epochs, '--epochs')),
      lr: optional('lr', () => numberOption(f.lr, '--lr')),
      batchSize: optional('batch', () => intOption(f.batch, '--batch')),
      optimizer: optional('optimizer', () => f.optimizer as OptimizerKind),
      schedule: optional('schedule', () => f.schedule),
      weightDecay: optional('weightDecay', () => numberOption(f.weightDecay!, '--weight-decay')),
      labelSmoothing: f.labelSmoothing ? numberOption(f.labelSmoothing, '--label-smoothing') : undefined,
      augment: f.augment ? undefined : false,
      val: f.val ? numberOption(f.val, '--val') : undefined,
      seed: f.seed !== undefined && f.seed !== '0' ? intOption(f.seed, '--seed') : undefined,
      target: f.target as 'breed' | 'species' | undefined,
      plots: f.plots, command: invocation(), signal: controller.signal, progress: terminalProgress(), log,
      onEpoch: (row) => log(formatEpochRow(row)),
    });
    if (report.interrupted) {
      console.error(`interrupted: resume with  graft train ${dataset} --resume ${report.files.checkpoint}`);
      process.exitCode = 130;
      return;
    }
    if (f.json) return printJson(report);
    printRunReport(report);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
