import fs from 'node:fs';
import type { Command } from 'commander';
import { deleteCorrupt } from '../../data/dataset.js';
import { runEndToEnd, wantsEndToEnd, type EndToEndFlags } from './train-end-to-end.js';
import { trainClassifier, TRAIN_DEFAULTS } from '../../train/frozen-backbone.js';
import { FINE_TUNE_DEFAULTS } from '../../train/finetune/finetune.js';
import type { HeadKind } from '../../train/heads.js';
import type { Pooling } from '../../train/extract.js';
import type { OptimizerKind } from '../../optim/optim.js';
import { addModelOptions, intOption, numberOption, printJson, type ModelFlags } from '../common.js';
import { terminalProgress } from '../progress.js';
import { invocation } from '../invocation.js';
import { printRunReport } from '../print-report.js';
import { loadMergedFeatures } from '../../scale/index.js';
import { GraftError } from '../../util/errors.js';

interface Flags extends ModelFlags, EndToEndFlags {
  tap?: string; pooling: string; standardize: boolean; head: string; hidden?: string; dropout?: string; epochs: string; lr: string; batch: string; optimizer: string;
  schedule: string; weightDecay?: string; solver: string; cvFolds: string; stacking: boolean; tta: string; labelSmoothing?: string; classWeights?: string; clipNorm?: string; earlyStopping?: string;
  features?: string; val?: string; refit?: boolean; deleteCorrupt?: boolean; target?: string; out: string; json?: boolean; plots: boolean;
}

function choice<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw new GraftError('BAD_ARGUMENT', `${flag} ${value}: expected one of ${allowed.join(', ')}`);
  return value as T;
}

export function register(program: Command): void {
  addModelOptions(program.command('train [dataset]').description('train a classifier on frozen pretrained features; writes DIR/model.onnx, report.json, report.html, curves.png, confusion.png, top-losses.png'))
    .option('--tap <layer>', 'backbone layer whose (pooled) output feeds the head', 'features')
    .option('--pooling <p>', 'pooling of a spatial tap: avg | avgmax (fastai concat pooling)', 'avg')
    .option('--features <plan>', 'train on the merged features of `graft plan extract` (model, tap, pooling and split come from the plan)')
    .option('--no-standardize', 'do not standardise features (standardisation is folded into the exported head)')
    .option('--head <kind>', 'linear | mlp', TRAIN_DEFAULTS.head)
    .option('--hidden <sizes>', 'MLP hidden sizes, comma-separated', '256')
    .option('--dropout <p>', 'MLP dropout', '0.2')
    .option('--epochs <n>', 'epochs', String(TRAIN_DEFAULTS.epochs))
    .option('--lr <x>', 'learning rate (one-cycle: maximum)', String(TRAIN_DEFAULTS.lr))
    .option('--batch <b>', 'mini-batch size', String(TRAIN_DEFAULTS.batchSize))
    .option('--optimizer <o>', 'sgd | adam | adamw', TRAIN_DEFAULTS.optimizer)
    .option('--schedule <s>', 'constant | exp:0.98 | step:10:0.1 | cosine | onecycle', TRAIN_DEFAULTS.schedule)
    .option('--weight-decay <x>', `L2 weight decay (linear head: chosen by cross-validation unless given; other heads: ${TRAIN_DEFAULTS.weightDecay})`)
    .option('--solver <s>', 'linear head: lbfgs (full batch, default) | sgd (mini-batch with --optimizer/--epochs/--lr)', 'lbfgs')
    .option('--cv-folds <k>', 'folds of the cross-validation that selects the weight decay', '5')
    .option('--no-stacking', 'several backbones (--model a,b): one linear head on the concatenated features only (by default one head per backbone, stacked, when that has the lower cross-validated log loss)')
    .option('--tta <t>', 'test-time augmentation in the reported numbers and the exported model: none | flip (average with the mirror image)', 'none')
    .option('--label-smoothing <x>', `label smoothing ε (fine-tune default ${FINE_TUNE_DEFAULTS.labelSmoothing})`)
    .option('--class-weights <w>', 'balanced')
    .option('--clip-norm <x>', 'clip the gradient L2 norm')
    .option('--early-stopping <patience>', 'stop when val loss has not improved for this many epochs (best weights restored)')
    .option('--val <fraction>', 'hold out this fraction for validation when the dataset has no validation split (default: none; cross-validation selects)')
    .option('--refit', 'after selection on the validation split, retrain the head on train + validation for the best epoch count')
    .option('--delete-corrupt', 'delete the image files that could not be decoded (never done without this flag)')
    .option('--target <t>', 'Oxford-IIIT Pet: breed | species')
    .option('-o, --out <dir>', 'output folder', 'graft-out')
    .option('--no-plots', 'skip curves.png, confusion.png and top-losses.png (report.html still has them)')
    .option('--json', 'print the report as JSON')
    .option('--fine-tune', 'after the head, unfreeze the backbone (every block unless --unfreeze-blocks N / --unfreeze LAYER) and train end to end (fastai fine_tune)')
    .option('--unfreeze <layer>', 'fine-tune: train backbone layers from this layer onwards')
    .option('--unfreeze-blocks <n>', 'fine-tune: train the last N backbone blocks (MobileNetV2/EfficientNet: inverted-residual blocks; ResNet/VGG: stages; MobileNet v1: conv_dw_k+conv_pw_k; else a conv with its BN), or all of them', 'all')
    .option('--backbone-lr-mult <x>', 'fine-tune: backbone learning rate = lr × this', String(FINE_TUNE_DEFAULTS.backboneLrMult))
    .option('--epochs-head <n>', 'fine-tune: epochs of the head on frozen features', String(TRAIN_DEFAULTS.epochs))
    .option('--no-augment', 'no augmentation: the linear head does not also train on mirror images (by default it does when a class has fewer than 100 training images); fine-tune / from scratch: no random augmentation of training images')
    .option('--from-scratch', 'train every weight from random initialisation (with --random-weights, or --model scratch-cnn)')
    .option('--input-size <px>', 'from scratch: input side (default: the architecture\'s, scratch-cnn 128)')
    .option('--resume <dir>', 'continue an interrupted --fine-tune / --from-scratch run from its checkpoint folder (OUT/checkpoint)')
    .action(async (datasetArg: string | undefined, f: Flags, cmd: Command) => {
      const merged = f.features ? await loadMergedFeatures(f.features) : undefined;
      const dataset = merged?.plan.plan.root ?? datasetArg;
      if (!dataset) throw new Error('graft train: give a dataset folder, or --features PLAN');
      if (merged && datasetArg) throw new Error('graft train: give either a dataset or --features PLAN, not both');
      if (merged && f.model) throw new Error('graft train --features: the model is the plan\'s (plan.json); drop --model');
      if (wantsEndToEnd(f)) {
        if (merged) throw new Error('graft train: --fine-tune / --from-scratch need the images, not --features');
        return runEndToEnd(dataset, f, cmd);
      }
      const log = f.json ? (l: string) => console.error(l) : (l: string) => console.log(l);
      const report = await trainClassifier(dataset, {
        features: merged, model: merged?.model ?? f.model, randomWeights: f.randomWeights, tap: merged?.plan.plan.options.tap ?? f.tap, pooling: merged?.plan.plan.options.pooling ?? (f.pooling as Pooling), standardize: f.standardize,
        head: f.head as HeadKind, hidden: f.hidden?.split(',').map((h) => intOption(h, '--hidden')), dropout: f.dropout ? numberOption(f.dropout, '--dropout') : undefined,
        epochs: intOption(f.epochs, '--epochs'), lr: numberOption(f.lr, '--lr'), batchSize: intOption(f.batch, '--batch'),
        optimizer: f.optimizer as OptimizerKind, schedule: f.schedule, weightDecay: f.weightDecay !== undefined ? numberOption(f.weightDecay, '--weight-decay') : undefined,
        solver: choice(f.solver, ['lbfgs', 'sgd'] as const, '--solver'), cvFolds: intOption(f.cvFolds, '--cv-folds'), stacking: f.stacking, tta: choice(f.tta, ['none', 'flip'] as const, '--tta'), augment: f.augment === false ? 'none' : 'auto',
        labelSmoothing: f.labelSmoothing ? numberOption(f.labelSmoothing, '--label-smoothing') : undefined,
        classWeights: f.classWeights === 'balanced' ? 'balanced' : undefined,
        clipNorm: f.clipNorm ? numberOption(f.clipNorm, '--clip-norm') : undefined,
        earlyStopping: f.earlyStopping ? intOption(f.earlyStopping, '--early-stopping') : undefined,
        val: f.val ? numberOption(f.val, '--val') : undefined, refit: f.refit, seed: f.seed !== undefined && f.seed !== '0' ? intOption(f.seed, '--seed') : undefined,
        target: f.target as 'breed' | 'species' | undefined, out: f.out, plots: f.plots,
        command: invocation(), progress: terminalProgress(), log,
      });
      if (f.deleteCorrupt) {
        const corrupt = report.skipped.filter((s) => fs.existsSync(s.path)).map((s) => s.path);
        for (const file of await deleteCorrupt(corrupt)) log(`deleted ${file}`);
      }
      if (f.json) return printJson(report);
      printRunReport(report);
    });
}
