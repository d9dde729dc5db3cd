import type { Command } from 'commander';
import { evaluateFile, predictFiles } from '../../predict/saved.js';
import { expandImagePaths } from '../../data/image-files.js';
import { intOption, printJson, reportClassifications } from '../common.js';
import { terminalProgress } from '../progress.js';
import { invocation } from '../invocation.js';
import { printRunReport } from '../print-report.js';
import type { TtaMode } from '../../predict/tta.js';

export function register(program: Command): void {
  program
    .command('predict <model> <images...>')
    .description('classify images with a classifier exported by `graft train` (needs nothing but the .onnx file); folders: every image inside, recursively')
    .option('-k, --top <k>', 'how many classes to show', '3')
    .option('--tta <t>', 'test-time augmentation: none | flip (average with the mirror image)', 'none')
    .option('--json', 'print JSON')
    .action(async (model: string, images: string[], f: { top: string; tta: string; json?: boolean }) => {
      const results = await predictFiles(model, await expandImagePaths(images), { top: intOption(f.top, '--top'), tta: f.tta as TtaMode, progress: terminalProgress() });
      reportClassifications(results, f.json, false);
    });
  program
    .command('eval <model> <dataset>')
    .description("evaluate an exported classifier on a dataset's test (else validation) split")
    .option('--split <s>', 'test | validation | train')
    .option('--target <t>', 'Oxford-IIIT Pet: breed | species')
    .option('--tta <t>', 'test-time augmentation: none | flip (average with the mirror image)', 'none')
    .option('-o, --out <dir>', 'output folder for report.json, report.html, confusion.png, top-losses.png', 'graft-eval')
    .option('--no-plots', 'skip confusion.png and top-losses.png (report.html still has them)')
    .option('--json', 'print the report as JSON')
    .action(async (model: string, dataset: string, f: { split?: 'test' | 'validation' | 'train'; target?: 'breed' | 'species'; tta: string; out: string; plots: boolean; json?: boolean }) => {
      const r = await evaluateFile(model, dataset, { split: f.split, target: f.target, tta: f.tta as TtaMode, out: f.out, plots: f.plots, command: invocation(), progress: terminalProgress() });
      if (f.json) return printJson(r);
      printRunReport(r);
    });
}
