import type { Command } from 'commander';
import { formatSummary, summarize } from '../../models/inspect.js';
import { addModelOptions, modelFromFlags, printJson, type ModelFlags } from '../common.js';

export function register(program: Command): void {
  addModelOptions(program.command('inspect <model>').description('layers (name, op, output shape, parameters) and totals'), false)
    .option('--json', 'print JSON (has "parameters": the total count)')
    .action(async (spec: string, flags: ModelFlags & { json?: boolean }) => {
      const summary = summarize(await modelFromFlags(flags, spec));
      if (flags.json) printJson(summary);
      else console.log(formatSummary(summary));
    });
}
