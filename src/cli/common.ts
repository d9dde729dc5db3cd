/** Shared CLI plumbing: model options, output, errors. */
import type { Command } from 'commander';
import { loadModel, type GraftModel } from '../models/load.js';
import { DEFAULT_MODEL } from '../models/registry.js';
import { terminalProgress } from './progress.js';
import type { Classification } from '../predict/classify.js';
import type { Unfreeze } from '../train/finetune/params.js';

export interface ModelFlags { model?: string; randomWeights?: boolean; seed?: string }

export function addModelOptions(cmd: Command, withModelFlag = true): Command {
  if (withModelFlag) cmd.option('-m, --model <model>', `registry name, .onnx file or TF.js model folder (default ${DEFAULT_MODEL})`);
  return cmd
    .option('--random-weights', 'build the architecture with seeded random (He/Kaiming) weights instead of loading pretrained ones')
    .option('--seed <n>', 'random seed', '0');
}

export async function modelFromFlags(flags: ModelFlags, spec?: string): Promise<GraftModel> {
  return loadModel(spec ?? flags.model ?? DEFAULT_MODEL, {
    randomWeights: flags.randomWeights,
    seed: Number(flags.seed ?? 0),
    progress: terminalProgress(),
    log: (l) => console.error(l),
  });
}

/** Prints classifications (JSON or one block per image) and sets exit code 1 when an image could not be read. */
export function reportClassifications(results: Classification[], json: boolean | undefined, showIndex: boolean): void {
  if (results.some((r) => r.error)) process.exitCode = 1;
  if (json) return printJson(results);
  for (const r of results) {
    console.log(r.image);
    if (r.error) console.log(`  error: ${r.error}`);
    for (const p of r.predictions) console.log(`  ${(p.probability * 100).toFixed(2).padStart(6)}%  ${showIndex ? `${String(p.index).padStart(4)}  ` : ''}${p.label}`);
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function intOption(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got "${value}"`);
  return n;
}

export function numberOption(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got "${value}"`);
  return n;
}

/** `--unfreeze-blocks N|all` (train --fine-tune and lr-find --fine-tune). */
export function unfreezeBlocksOption(value: string): Unfreeze {
  return value === 'all' ? { all: true } : { blocks: intOption(value, '--unfreeze-blocks') };
}
