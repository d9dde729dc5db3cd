import type { Command } from 'commander';
import { openDataset, datasetStats, formatStats, sampleForDisplay } from '../../data/dataset.js';
import { DATASET_SOURCES, fetchDataset } from '../../data/fetch.js';
import { loadImageRgbCropped } from '../../image/preprocess.js';
import { renderGrid } from '../../image/grid.js';
import { PREPROCESS_TF } from '../../image/preprocess.js';
import { writeFileAtomic } from '../../util/fsutil.js';
import { errorMessage } from '../../util/errors.js';
import { cacheDir } from '../../util/paths.js';
import { intOption, printJson } from '../common.js';
import { terminalProgress } from '../progress.js';

export function register(program: Command): void {
  const ds = program.command('datasets').description('fetch, look at and count image datasets');
  ds.command('fetch <name>')
    .description(`download and safely extract a dataset: ${Object.keys(DATASET_SOURCES).join(' | ')}`)
    .option('--dir <dir>', 'where to put it', cacheDir('datasets'))
    .action(async (name: string, f: { dir: string }) => {
      const root = await fetchDataset(name, f.dir, { progress: terminalProgress(), log: (l) => console.error(l) });
      console.log(root);
    });
  ds.command('stats <dataset>')
    .description('images per class and split, skipped files')
    .option('--target <t>', 'Oxford-IIIT Pet: breed | species')
    .option('--val <fraction>', 'validation fraction when the data has no split', '0.2')
    .option('--seed <n>', 'split seed', '13')
    .option('--json', 'print JSON')
    .action(async (root: string, f: { target?: 'breed' | 'species'; val: string; seed: string; json?: boolean }) => {
      const d = await openDataset(root, { target: f.target, val: Number(f.val), seed: intOption(f.seed, '--seed') });
      const stats = datasetStats(d);
      if (f.json) return printJson({ root: d.root, layout: d.layout, ...stats, notes: d.notes });
      console.log(`${d.root} (${d.layout}), ${d.classes.length} classes`);
      console.log(formatStats(stats));
      for (const n of d.notes) console.log(`note: ${n}`);
    });
  ds.command('show <dataset>')
    .description('a grid of sample images titled with their classes')
    .option('-n, --n <n>', 'how many images', '12')
    .option('--seed <n>', 'sampling seed', '0')
    .option('--target <t>', 'Oxford-IIIT Pet: breed | species')
    .requiredOption('-o, --out <file>', 'PNG to write')
    .action(async (root: string, f: { n: string; seed: string; target?: 'breed' | 'species'; out: string }) => {
      const d = await openDataset(root, { target: f.target });
      const samples = sampleForDisplay(d, intOption(f.n, '--n'), intOption(f.seed, '--seed'));
      const tiles = [];
      for (const s of samples) {
        try {
          tiles.push({ image: await loadImageRgbCropped(s.path, { ...PREPROCESS_TF, size: [160, 160] }), title: d.classes[s.label] });
        } catch (err) {
          console.error(`skipped ${s.path}: ${errorMessage(err)}`);
        }
      }
      await writeFileAtomic(f.out, await renderGrid(tiles, { tileSize: 160, title: `${d.root} — ${d.classes.length} classes` }));
      console.log(`wrote ${f.out} (${tiles.length} images)`);
    });
}
