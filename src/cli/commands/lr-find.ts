import type { Command } from 'commander';
import { lrFindDataset } from '../../train/frozen-backbone.js';
import { LR_FIND_DEFAULTS } from '../../train/lrfind.js';
import type { HeadKind } from '../../train/heads.js';
import { FINE_TUNE_DEFAULTS } from '../../train/finetune/finetune.js';
import { lrFindFineTune } from '../../train/finetune/lrfind.js';
import { intOption, numberOption, printJson, unfreezeBlocksOption } from '../common.js';
import { terminalProgress } from '../progress.js';

interface Flags {
  model?: string; head: string; hidden: string; startLr: string; endLr: string; steps: string; batch?: string;
  out: string; target?: string; seed: string; json?: boolean; fineTune?: boolean; unfreezeBlocks: string; backboneLrMult: string;
}

export function register(program: Command): void {
  program
    .command('lr-find <dataset>')
    .description('learning-rate range test (Smith; fastai lr_find): loss vs exponentially growing lr on the training split; plots it and prints the suggested lr')
    .option('-m, --model <models>', 'backbone(s), comma-separated (features are cached as for train)')
    .option('--head <kind>', 'linear | mlp', 'linear')
    .option('--hidden <sizes>', 'MLP hidden sizes', '256')
    .option('--start-lr <x>', 'first learning rate', String(LR_FIND_DEFAULTS.startLr))
    .option('--end-lr <x>', 'last learning rate', String(LR_FIND_DEFAULTS.endLr))
    .option('--steps <n>', 'mini-batch steps', String(LR_FIND_DEFAULTS.steps))
    .option('--batch <b>', `mini-batch size (default ${LR_FIND_DEFAULTS.batchSize}; with --fine-tune ${FINE_TUNE_DEFAULTS.batchSize})`)
    .option('--fine-tune', 'range test of end-to-end fine-tuning (fastai unfreeze + lr_find): from graft train\'s head, the head and the unfrozen backbone train on augmented batches; the suggestion is for train --fine-tune --lr')
    .option('--unfreeze-blocks <n>', 'with --fine-tune: the last N backbone blocks, or all', 'all')
    .option('--backbone-lr-mult <x>', 'with --fine-tune: backbone learning rate = lr × this', String(FINE_TUNE_DEFAULTS.backboneLrMult))
    .option('--target <t>', 'Oxford-IIIT Pet: breed | species')
    .option('--seed <n>', 'random seed', '13')
    .option('-o, --out <file>', 'plot file (PNG)', 'lr.png')
    .option('--json', 'print the points and suggestion as JSON')
    .action(async (dataset: string, f: Flags) => {
      const common = {
        model: f.model, startLr: numberOption(f.startLr, '--start-lr'), endLr: numberOption(f.endLr, '--end-lr'), steps: intOption(f.steps, '--steps'),
        ...(f.batch === undefined ? {} : { batchSize: intOption(f.batch, '--batch') }), target: f.target as 'breed' | 'species' | undefined,
        seed: intOption(f.seed, '--seed'), out: f.out, progress: terminalProgress(),
      };
      const r = f.fineTune
        ? await lrFindFineTune(dataset, {
          ...common, unfreeze: unfreezeBlocksOption(f.unfreezeBlocks),
          backboneLrMult: numberOption(f.backboneLrMult, '--backbone-lr-mult'),
        })
        : await lrFindDataset(dataset, { ...common, head: f.head as HeadKind, hidden: f.hidden.split(',').map((h) => intOption(h, '--hidden')) });
      if (f.json) return printJson(r);
      console.log(`suggested lr ${r.suggested.toExponential(2)} (steepest descent of the smoothed loss); minimum at ${r.minimum.toExponential(2)}; ${r.points.length} steps on ${r.images} images${r.stoppedEarly ? ', stopped when the loss diverged' : ''}`);
      console.log(`wrote ${r.plot}`);
    });
}
