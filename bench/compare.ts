/**
 * graft vs PyTorch, back to back in one run: each round runs `graft bench <what> --json` and the PyTorch peer
 * (bench/peers/torch_bench.py, Debian's python3-torch) one after the other with the same batch and threads; the
 * table reports the median over rounds of each side and of the per-round ratio (the machine is shared: the
 * per-round ratio cancels most of the load drift).
 * Run: node --import tsx bench/compare.ts [rounds=3] [threads=2] [cases=train-step:resnet18:16,input-grad:resnet18:1,input-grad:resnet50:1]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.GRAFT_SHARED ?? path.resolve(root, '..', 'shared');
const rounds = Number(process.argv[2] ?? 3);
const threads = Number(process.argv[3] ?? 2);
const cases = (process.argv[4] ?? 'train-step:resnet18:16,input-grad:resnet18:1,input-grad:resnet50:1').split(',').map((c) => c.split(':'));
const python = process.env.GRAFT_PYTHON ?? '/usr/bin/python3';
const env = { ...process.env, GRAFT_MODELS: process.env.GRAFT_MODELS ?? path.join(shared, 'models'), GRAFT_CACHE: process.env.GRAFT_CACHE ?? fs.mkdtempSync(path.join(os.tmpdir(), 'graft-compare-')) };

interface Timing { msPerImage: number }

function run(cmd: string, args: string[]): Timing {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as Timing;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const torch = spawnSync(python, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
if (torch.status !== 0) {
  console.log(`PyTorch is not importable by ${python} (apt-get install python3-torch python3-torchvision); nothing to compare.`);
  process.exit(0);
}
console.log(`graft vs PyTorch, ${threads} thread(s) each, ${rounds} round(s), median per case — ${os.cpus()[0]?.model ?? 'cpu'}, load ${os.loadavg()[0].toFixed(2)}, ${new Date().toISOString()}`);
console.log(['command', 'graft ms/img', 'PyTorch ms/img', 'graft speed-up'].map((c, i) => c.padEnd(i ? 16 : 112)).join(''));
for (const [what, model, batch] of cases) {
  const iterations = what === 'train-step' ? '3' : '5';
  const graftArgs = ['bench', what, '--model', model, '--random-weights', '--batch', batch, '--threads', String(threads), '--iterations', iterations, '--json'];
  const g: number[] = [];
  const p: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const gi = run(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/run.ts'), ...graftArgs]).msPerImage;
    const pi = run(python, [path.join(root, 'bench/peers/torch_bench.py'), what, model, batch, String(threads), '1', iterations]).msPerImage;
    g.push(gi);
    p.push(pi);
    ratios.push(pi / gi);
  }
  console.log([`graft ${graftArgs.join(' ')}`, median(g).toFixed(1), median(p).toFixed(1), `${median(ratios).toFixed(2)}×`].map((c, i) => c.padEnd(i ? 16 : 112)).join('') + `  rounds: ${ratios.map((x) => x.toFixed(2)).join(' ')}`);
}
