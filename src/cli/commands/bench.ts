import type { Command } from 'commander';
import { BENCH_KINDS, benchmark, type BenchKind, type BenchResult } from '../../bench/index.js';
import { GraftError } from '../../util/errors.js';
import { addModelOptions, intOption, modelFromFlags, printJson, type ModelFlags } from '../common.js';

interface BenchFlags extends ModelFlags {
  batch?: string;
  threads?: string;
  warmup: string;
  iterations: string;
  batchNorm?: string;
  profile?: string;
  json?: boolean;
}

function print(r: BenchResult): void {
  console.log(`${r.what} ${r.model}: ${r.detail}`);
  console.log(`  batch ${r.batch}, ${r.threads} thread(s), median of ${r.iterations} after ${r.warmup} warm-up: ${r.medianMs.toFixed(1)} ms/step, ${r.msPerImage.toFixed(2)} ms/image, ${r.imagesPerSecond.toFixed(1)} images/s, ${r.cpuMsPerStep.toFixed(0)} CPU ms/step (load average ${r.loadAverage.toFixed(2)})`);
  if (!r.profile) return;
  console.log(`  onnxruntime kernel time ${r.profile.kernelMs.toFixed(1)} ms/run (${r.profile.file})`);
  for (const o of r.profile.ops.filter((op) => op.share >= 0.005)) {
    console.log(`    ${o.phase.padEnd(9)} ${o.op.padEnd(24)} ${o.ms.toFixed(1).padStart(9)} ms ${(100 * o.share).toFixed(1).padStart(5)}%  ${o.nodes} node(s)`);
  }
}

export function register(program: Command): void {
  addModelOptions(
    program.command('bench <what>').description(`time ${BENCH_KINDS.join(' | ')} on this machine (random inputs; median of timed runs)`),
  )
    .option('--batch <n>', 'images per step (default: 16 for train-step, 719 labelled images for head, as the Oxford pets, else 1)')
    .option('--threads <n>', 'onnxruntime intra-op threads (default: GRAFT_THREADS, else all cores; head: 1, as graft train)')
    .option('--warmup <n>', 'untimed runs first', '1')
    .option('--iterations <n>', 'timed runs (the median is reported)', '5')
    .option('--batch-norm <mode>', 'train-step: batch | frozen (default: batch with --random-weights, else frozen)')
    .option('--profile <dir>', 'write an onnxruntime per-node profile there and print the per-op breakdown')
    .option('--json', 'print one JSON object')
    .action(async (what: string, f: BenchFlags) => {
      if (!(BENCH_KINDS as readonly string[]).includes(what)) throw new GraftError('BAD_ARGUMENT', `bench: <what> must be one of ${BENCH_KINDS.join(', ')}, got "${what}"`);
      if (f.batchNorm !== undefined && f.batchNorm !== 'batch' && f.batchNorm !== 'frozen') throw new GraftError('BAD_ARGUMENT', `--batch-norm must be batch or frozen, got "${f.batchNorm}"`);
      const m = await modelFromFlags(f);
      const result = await benchmark(m, {
        what: what as BenchKind,
        batch: f.batch === undefined ? undefined : intOption(f.batch, '--batch'),
        threads: f.threads === undefined ? undefined : intOption(f.threads, '--threads'),
        warmup: intOption(f.warmup, '--warmup'),
        iterations: intOption(f.iterations, '--iterations'),
        batchNorm: f.batchNorm as 'batch' | 'frozen' | undefined,
        profileDir: f.profile,
        seed: Number(f.seed ?? 0),
      });
      if (f.json) printJson(result);
      else print(result);
    });
}
