import path from 'node:path';
import type { Command } from 'commander';
import { featureMaps, listLayers, renderFeatureGrid, renderFeatureMatrix } from '../../viz/features.js';
import { writeFileAtomic } from '../../util/fsutil.js';
import { GraftError } from '../../util/errors.js';
import { addModelOptions, intOption, modelFromFlags, printJson, type ModelFlags } from '../common.js';

interface Flags extends ModelFlags { layer?: string; channels: string; out?: string; matrix?: string; listLayers?: boolean; json?: boolean }

export function register(program: Command): void {
  addModelOptions(program.command('features [image]').description("show a layer's feature maps as a tiled grid, and the last conv block as one (positions × channels) heat-map"))
    .option('-l, --layer <name>', 'layer (or tensor) to show; default: the last convolutional block')
    .option('-c, --channels <n>', 'how many channels to tile', '16')
    .option('-o, --out <file>', 'grid PNG to write')
    .option('--matrix <file>', 'heat-map PNG of the layer as positions × channels (default: <out>.matrix.png)')
    .option('--list-layers', 'list the layers that can be shown')
    .option('--json', 'print what was written as JSON')
    .action(async (image: string | undefined, flags: Flags) => {
      const m = await modelFromFlags(flags);
      if (flags.listLayers) {
        const layers = listLayers(m);
        if (flags.json) return printJson(layers);
        for (const l of layers) console.log(`${l.name.padEnd(40)} ${l.shape}`);
        return;
      }
      if (!image) throw new GraftError('BAD_ARGUMENT', 'features needs an <image> (or --list-layers)');
      if (!flags.out) throw new GraftError('BAD_ARGUMENT', 'features needs --out <file.png>');
      const layer = flags.layer ?? 'lastConv';
      const fm = await featureMaps(m, image, layer);
      await writeFileAtomic(flags.out, await renderFeatureGrid(fm, { count: intOption(flags.channels, '--channels') }));
      const matrixFile = flags.matrix ?? path.join(path.dirname(flags.out), `${path.basename(flags.out, path.extname(flags.out))}.matrix.png`);
      if (fm.height * fm.width > 1) await writeFileAtomic(matrixFile, await renderFeatureMatrix(fm));
      const report = { layer: fm.layer, tensor: fm.tensor, shape: [fm.channels, fm.height, fm.width], grid: flags.out, matrix: fm.height * fm.width > 1 ? matrixFile : undefined };
      if (flags.json) printJson(report);
      else console.log(`${fm.layer} [${fm.channels}×${fm.height}×${fm.width}] → ${flags.out}${report.matrix ? ` and ${report.matrix}` : ''}`);
    });
}
