import type { Command } from 'commander';
import { parseClassMap, robustness, type RobustnessReport } from '../../attack/index.js';
import { findClass } from '../../models/labels.js';
import { GraftError } from '../../util/errors.js';
import { addModelOptions, intOption, modelFromFlags, numberOption, printJson, type ModelFlags } from '../common.js';
import { terminalProgress } from '../progress.js';
import { parseNorm } from './attack.js';

interface RobustnessFlags extends ModelFlags {
  eps: string;
  method: string;
  norm: string;
  steps?: string;
  stepSize?: string;
  limit?: string;
  target?: string;
  classMap?: string;
  split?: 'train' | 'validation' | 'test';
  batch: string;
  json?: boolean;
}

function print(r: RobustnessReport): void {
  const s = r.settings;
  console.log(`${r.model} on ${r.dataset} (${r.split}, ${r.n} images, correct = ${r.mode === 'labels' ? 'label match' : 'class-map match'}), ${r.target !== undefined ? `targeted → ${r.target}` : 'untargeted'} ${s.method} ${s.norm}`);
  console.log(`${'ε (px)'.padStart(8)}  ${'accuracy'.padStart(9)}  ${'attack success'.padStart(14)}`);
  r.eps.forEach((e, i) => {
    console.log(`${String(e).padStart(8)}  ${(r.accuracy[i] * 100).toFixed(1).padStart(8)}%  ${(i === 0 && e === 0 ? '-' : `${(r.successRate[i] * 100).toFixed(1)}%`).padStart(14)}`);
  });
  if (r.skipped.length) console.log(`skipped ${r.skipped.length} unreadable file(s)`);
}

export function register(program: Command): void {
  addModelOptions(
    program.command('robustness <model> <dataset>').description('accuracy under adversarial attack for each ε (pixel units)'),
    false,
  )
    .option('--eps <list>', 'comma-separated radii in pixel units', '0,1,2,4,8')
    .option('--method <m>', 'pgd | fgsm', 'pgd')
    .option('--norm <n>', 'linf | l2', 'linf')
    .option('--steps <n>', 'PGD iterations (default 10)')
    .option('--step-size <s>', 'PGD α in pixel units (default: linf 2, l2 51)')
    .option('--limit <n>', 'at most this many images, alternating between classes')
    .option('--target <class>', 'targeted attack toward this model class (default: untargeted)')
    .option('--class-map <map>', 'dataset class → model classes, e.g. "cats=281-285;dogs=151-268" (built in for cats/dogs)')
    .option('--split <s>', 'validation | test | train (default: validation, else test, else train)')
    .option('--batch <n>', 'images per gradient run', '4')
    .option('--json', 'print JSON {"eps", "accuracy", "successRate", "n", …}')
    .action(async (model: string, dataset: string, f: RobustnessFlags) => {
      if (f.method !== 'pgd' && f.method !== 'fgsm') throw new GraftError('BAD_ARGUMENT', `--method must be pgd or fgsm, got "${f.method}"`);
      const eps = f.eps.split(',').map((e) => numberOption(e.trim(), '--eps'));
      if (eps.some((e) => e < 0)) throw new GraftError('BAD_ARGUMENT', '--eps values must be ≥ 0');
      const m = await modelFromFlags(f, model);
      const report = await robustness(m, dataset, {
        eps,
        settings: {
          method: f.method,
          norm: parseNorm(f.norm),
          steps: f.steps === undefined ? undefined : intOption(f.steps, '--steps'),
          stepSize: f.stepSize === undefined ? undefined : numberOption(f.stepSize, '--step-size'),
          seed: Number(f.seed ?? 0),
        },
        limit: f.limit === undefined ? undefined : intOption(f.limit, '--limit'),
        target: f.target === undefined ? undefined : findClass(m.labels, f.target),
        classMap: f.classMap === undefined ? undefined : parseClassMap(f.classMap),
        split: f.split,
        batchSize: intOption(f.batch, '--batch'),
        progress: terminalProgress(),
      });
      if (f.json) printJson(report);
      else print(report);
    });
}
