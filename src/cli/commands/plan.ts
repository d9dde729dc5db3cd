import path from 'node:path';
import type { Command } from 'commander';
import { emitK8s, emitSlurm, planExtract, planPredict, type LoadedPlan } from '../../scale/index.js';
import type { Pooling } from '../../train/extract.js';
import { intOption, numberOption, printJson } from '../common.js';

interface EmitFlags {
  out: string; shards: string; batch: string; emit?: string; graftCommand?: string; json?: boolean;
  maxParallel?: string; cpusPerTask: string; k8sImage?: string; k8sParallelism?: string; k8sClaim?: string; k8sMount?: string; backoffLimitPerIndex: string;
}

/**
 * How the emitted scripts start graft: this very installation, with absolute paths (a batch job starts elsewhere).
 * From source (`node --import tsx src/cli/run.ts`) the `tsx` loader is resolved to its file, independent of cwd.
 */
function currentGraftCommand(): string[] {
  const execArgv = process.execArgv.map((a, i, all) => (all[i - 1] === '--import' && !a.startsWith('.') && !path.isAbsolute(a) && !a.includes(':') ? import.meta.resolve(a) : a));
  return [process.execPath, ...execArgv, path.resolve(process.argv[1])];
}

function withEmitOptions(cmd: Command): Command {
  return cmd
    .requiredOption('-o, --out <dir>', 'plan folder (shared by every shard: a network file system on a cluster)')
    .requiredOption('--shards <n>', 'number of shards (fixed for the life of the plan)')
    .option('--batch <b>', 'images per inference batch', '32')
    .option('--emit <targets>', 'also write job files: slurm, k8s (comma-separated)')
    .option('--max-parallel <k>', 'slurm: at most K shards at once (--array=0-(N-1)%K)')
    .option('--cpus-per-task <c>', 'slurm: CPUs (and onnxruntime threads) per shard', '1')
    .option('--k8s-image <image>', 'k8s: container image with graft installed', 'graft:latest')
    .option('--k8s-parallelism <p>', 'k8s: pods at once (default: all shards)')
    .option('--k8s-claim <name>', 'k8s: PersistentVolumeClaim holding the plan folder and the images', 'graft-data')
    .option('--k8s-mount <path>', 'k8s: mount path of the claim (default: the folder holding both plan and images)')
    .option('--backoff-limit-per-index <n>', 'k8s: retries of one shard', '2')
    .option('--graft-command <cmd>', 'how job scripts run graft (default: this installation, absolute paths)')
    .option('--json', 'print plan.json');
}

async function finish(p: LoadedPlan, f: EmitFlags): Promise<void> {
  const written = [path.join(p.dir, 'plan.json'), path.join(p.dir, p.plan.manifest.file)];
  for (const target of (f.emit ?? '').split(',').map((t) => t.trim()).filter(Boolean)) {
    if (target === 'slurm') {
      written.push(await emitSlurm(p, { maxParallel: f.maxParallel ? intOption(f.maxParallel, '--max-parallel') : undefined, cpusPerTask: intOption(f.cpusPerTask, '--cpus-per-task') }));
    } else if (target === 'k8s') {
      written.push(await emitK8s(p, {
        image: f.k8sImage, parallelism: f.k8sParallelism ? intOption(f.k8sParallelism, '--k8s-parallelism') : undefined, claim: f.k8sClaim, mountPath: f.k8sMount,
        backoffLimitPerIndex: intOption(f.backoffLimitPerIndex, '--backoff-limit-per-index'),
      }));
    } else throw new Error(`--emit: unknown target "${target}" (slurm, k8s)`);
  }
  if (f.json) return printJson(p.plan);
  console.log(`plan ${p.plan.kind}: ${p.plan.images} images, ${p.plan.shards} shards of ${Math.floor(p.plan.images / p.plan.shards)}–${Math.ceil(p.plan.images / p.plan.shards)}, model ${p.plan.model.id}, plan ${p.hash.slice(0, 12)}`);
  console.log(`wrote ${written.join(', ')}`);
  console.log(`next: graft shard ${p.dir} --index K (0–${p.plan.shards - 1}, or auto in an array job); graft status ${p.dir}; graft merge ${p.dir}`);
}

function graftCommand(f: EmitFlags): string[] {
  return f.graftCommand ? f.graftCommand.split(/\s+/).filter(Boolean) : currentGraftCommand();
}

export function register(program: Command): void {
  const plan = program.command('plan').description('list the images of a big job once and cut it into shards for array jobs (Slurm, Kubernetes, AWS Batch)');
  withEmitOptions(plan.command('extract <source>').description('plan feature extraction over a dataset (classes and split kept) or a folder of images'))
    .option('-m, --model <model>', 'backbone (registry name, .onnx, TF.js folder)')
    .option('--tap <layer>', 'layer whose (pooled) output is the feature vector', 'features')
    .option('--pooling <p>', 'avg | avgmax', 'avg')
    .option('--val <fraction>', 'validation fraction when the dataset has no validation split')
    .option('--split-seed <n>', 'seed of that split')
    .option('--target <t>', 'Oxford-IIIT Pet: breed | species')
    .action(async (source: string, f: EmitFlags & { model?: string; tap: string; pooling: string; val?: string; splitSeed?: string; target?: 'breed' | 'species' }) => {
      const p = await planExtract(source, {
        out: f.out, shards: intOption(f.shards, '--shards'), batchSize: intOption(f.batch, '--batch'), graftCommand: graftCommand(f),
        model: f.model, tap: f.tap, pooling: f.pooling as Pooling, val: f.val ? numberOption(f.val, '--val') : undefined,
        seed: f.splitSeed ? intOption(f.splitSeed, '--split-seed') : undefined, target: f.target, log: (l) => console.error(l),
      });
      await finish(p, f);
    });
  withEmitOptions(plan.command('predict <model> <folder>').description('plan batch prediction of every image below a folder with a classifier exported by graft train'))
    .option('-k, --top <k>', 'classes kept per image', '5')
    .action(async (model: string, folder: string, f: EmitFlags & { top: string }) => {
      const p = await planPredict(model, folder, { out: f.out, shards: intOption(f.shards, '--shards'), batchSize: intOption(f.batch, '--batch'), graftCommand: graftCommand(f), top: intOption(f.top, '--top') });
      await finish(p, f);
    });
}
