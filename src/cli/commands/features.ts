import path from 'node:path';
import type { Command } from 'commander';
import { featureMaps, listLayers, renderFeatureGrid, renderFeatureMatrix } from '../../viz/features.js';
import { writeFileAtomic } from '../../util/fsutil.js';
import { GraftError } from '../../util/errors.js';
import { expandImagePaths } from '../../data/image-files.js';
import { addModelOptions, intOption, modelFromFlags, printJson, type ModelFlags } from '../common.js';

interface Flags extends ModelFlags { layer?: string; channels: string; out?: string; matrix?: string; listLayers?: boolean; json?: boolean }

export function register(program: Command): void {
  addModelOptions(program.command('features [images...]').description("show a layer's feature maps as a tiled grid, and the layer as one (positions × channels) heat-map; images or folders"))
    .option('-l, --layer <name>', 'layer (or tensor) to show; default: the last convolutional block')
    .option('-c, --channels <n>', 'how many channels to tile', '16')
    .option('-o, --out <path>', 'grid PNG to write; with several images (or a folder), the folder to write <name>.png grids into')
    .option('--matrix <file>', 'heat-map PNG of the layer as positions × channels (default: <out>.matrix.png)')
    .option('--list-layers', 'list the layers that can be shown')
    .option('--json', 'print what was written as JSON')
    .action(async (images: string[], flags: Flags) => {
      const m = await modelFromFlags(flags);
      if (flags.listLayers) {
        const layers = listLayers(m);
        if (flags.json) return printJson(layers);
        for (const l of layers) console.log(`${l.name.padEnd(40)} ${l.shape}`);
        return;
      }
      if (images.length === 0) throw new GraftError('BAD_ARGUMENT', 'features needs an <image> or a folder (or --list-layers)');
      if (!flags.out) throw new GraftError('BAD_ARGUMENT', 'features needs --out (a .png for one image, a folder for several)');
      const files = await expandImagePaths(images);
      const single = files.length === 1 && images.length === 1 && path.extname(flags.out).toLowerCase() === '.png';
      if (!single && flags.matrix) throw new GraftError('BAD_ARGUMENT', '--matrix names one file: use it with one image');
      const layer = flags.layer ?? 'lastConv';
      const count = intOption(flags.channels, '--channels');
      const written = [];
      const stems = new Map<string, number>();
      for (const image of files) {
        const grid = single ? flags.out : path.join(flags.out, `${uniqueStem(image, stems)}.png`);
        const fm = await featureMaps(m, image, layer);
        await writeFileAtomic(grid, await renderFeatureGrid(fm, { count }));
        const matrixFile = flags.matrix ?? path.join(path.dirname(grid), `${path.basename(grid, path.extname(grid))}.matrix.png`);
        const hasMatrix = fm.height * fm.width > 1;
        if (hasMatrix) await writeFileAtomic(matrixFile, await renderFeatureMatrix(fm));
        const report = { image, layer: fm.layer, tensor: fm.tensor, shape: [fm.channels, fm.height, fm.width], grid, matrix: hasMatrix ? matrixFile : undefined };
        written.push(report);
        if (!flags.json) console.log(`${single ? '' : `${image}: `}${fm.layer} [${fm.channels}×${fm.height}×${fm.width}] → ${grid}${report.matrix ? ` and ${report.matrix}` : ''}`);
      }
      if (flags.json) printJson(single ? written[0] : written);
    });
}

/** The image's file stem, numbered when two images share it, so no output overwrites another. */
function uniqueStem(image: string, seen: Map<string, number>): string {
  const stem = path.basename(image, path.extname(image));
  const n = seen.get(stem) ?? 0;
  seen.set(stem, n + 1);
  return n === 0 ? stem : `${stem}-${n + 1}`;
}
