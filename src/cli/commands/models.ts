import type { Command } from 'commander';
import { REGISTRY, DEFAULT_MODEL } from '../../models/registry.js';
import { locateEntry } from '../../models/load.js';
import { cacheDir, modelDirs } from '../../util/paths.js';
import { printJson } from '../common.js';

export function register(program: Command): void {
  program
    .command('models')
    .description('the model registry and where each entry resolves')
    .option('--json', 'print JSON')
    .action((flags: { json?: boolean }) => {
      const rows = REGISTRY.map((e) => ({
        name: e.name,
        default: e.name === DEFAULT_MODEL,
        format: e.format,
        description: e.description,
        resolves: locateEntry(e) ?? null,
        url: e.url ?? null,
        randomWeights: Boolean(e.buildable),
      }));
      if (flags.json) return printJson({ searchDirs: [...modelDirs(), cacheDir('models')], models: rows });
      console.log(`search order: ${[...modelDirs().map((d) => `${d} ($GRAFT_MODELS)`), `${cacheDir('models')} (cache)`, 'download'].join(' → ')}\n`);
      for (const r of rows) {
        console.log(`${r.name}${r.default ? ' (default)' : ''}  [${r.format}]${r.randomWeights ? '  --random-weights ok' : ''}`);
        console.log(`    ${r.description}`);
        console.log(`    ${r.resolves ? `found: ${r.resolves}` : r.url ? `not local; downloads from ${r.url}` : 'not local; no download URL (see description)'}`);
      }
    });
}
