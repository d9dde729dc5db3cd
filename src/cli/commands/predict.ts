import type { Command } from 'commander';
import { evaluateFile, predictFiles } from '../../predict/saved.js';
import { formatClassificationReport } from '../../train/metrics.js';
import { intOption, printJson, reportClassifications } from '../common.js';
import { terminalProgress } from '../progress.js';
import type { TtaMode } from '../../predict/tta.js';

export function register(program: Command): void {
  program
    .command('predict <model> <images...>')
    .description('classify images with a classifier exported by `graft train` (needs nothing but the .onnx file)')
    .option('-k, --top <k>', 'how many classes to show', '3')
    .option('--tta <t>', 'test-time augmentation: none | flip (average with the mirror image)', 'none')
    .option('--json', 'print JSON')
    .action(async (model: string, images: string[], f: { top: string; tta: string; json?: boolean }) => {
      const results = await predictFiles(model, images, { top: intOption(f.top, '--top'), tta: f.tta as TtaMode, progress: terminalProgress() });
      reportClassifications(results, f.json, false);
    });
  program
    .command('eval <model> <dataset>')
    .description("evaluate an exported classifier on a dataset's test (else validation) split")
    .option('--split <s>', 'test | validation | train')
    .option('--target <t>', 'Oxford-IIIT Pet: breed | species')
    .option('--tta <t>', 'test-time augmentation: none | flip (average with the mirror image)', 'none')
    .option('--json', 'print JSON')
    .action(async (model: string, dataset: string, f: { split?: 'test' | 'validation' | 'train'; target?: 'breed' | 'species'; tta: string; json?: boolean }) => {
      const r = await evaluateFile(model, dataset, { split: f.split, target: f.target, tta: f.tta as TtaMode, progress: terminalProgress() });
      if (f.json) return printJson(r);
      console.log(`${r.split}: accuracy ${(r.accuracy * 100).toFixed(2)}%  top-3 ${(r.top3 * 100).toFixed(2)}%  loss ${r.loss.toFixed(4)}  (${r.n} images)`);
      if (r.confusion.length <= 10) console.log('\n' + formatClassificationReport(r.confusion, r.classes));
      if (r.mostConfused.length) console.log(`most confused: ${r.mostConfused.slice(0, 5).map(([a, p, n]) => `${a} → ${p} (${n})`).join(', ')}`);
      if (r.skipped.length) console.log(`skipped ${r.skipped.length} unreadable file(s)`);
    });
}
