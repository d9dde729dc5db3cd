import type { Command } from 'commander';
import { classify } from '../../predict/classify.js';
import { expandImagePaths } from '../../data/image-files.js';
import { addModelOptions, intOption, modelFromFlags, reportClassifications, type ModelFlags } from '../common.js';
import { terminalProgress } from '../progress.js';

export function register(program: Command): void {
  addModelOptions(
    program.command('classify <images...>').description('ImageNet top-K classes of each image (folders: every image inside, recursively)'),
  )
    .option('-k, --top <k>', 'how many classes to show', '5')
    .option('--json', 'print JSON: [{"image", "predictions": [{"index", "label", "probability"}]}]')
    .action(async (images: string[], flags: ModelFlags & { top: string; json?: boolean }) => {
      const m = await modelFromFlags(flags);
      const results = await classify(m, await expandImagePaths(images), { top: intOption(flags.top, '--top'), progress: terminalProgress() });
      reportClassifications(results, flags.json, true);
    });
}
