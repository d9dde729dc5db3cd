import type { Command } from 'commander';
import { classify } from '../../predict/classify.js';
import { addModelOptions, intOption, modelFromFlags, printJson, type ModelFlags } from '../common.js';
import { terminalProgress } from '../progress.js';

export function register(program: Command): void {
  addModelOptions(
    program.command('classify <images...>').description('ImageNet top-K classes of each image'),
  )
    .option('-k, --top <k>', 'how many classes to show', '5')
    .option('--json', 'print JSON: [{"image", "predictions": [{"index", "label", "probability"}]}]')
    .action(async (images: string[], flags: ModelFlags & { top: string; json?: boolean }) => {
      const m = await modelFromFlags(flags);
      const results = await classify(m, images, { top: intOption(flags.top, '--top'), progress: terminalProgress() });
      if (results.some((r) => r.error)) process.exitCode = 1;
      if (flags.json) return printJson(results);
      for (const r of results) {
        console.log(r.image);
        if (r.error) console.log(`  error: ${r.error}`);
        for (const p of r.predictions) console.log(`  ${(p.probability * 100).toFixed(2).padStart(6)}%  ${String(p.index).padStart(4)}  ${p.label}`);
      }
    });
}
