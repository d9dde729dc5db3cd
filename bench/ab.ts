/**
 * Interleaved A/B of two graph variants in one process: builds the same `graft bench` case twice, each under its
 * own environment switches (read while the graphs and sessions are built, e.g. GRAFT_BNFUSE=0, GRAFT_DW=tapwise,
 * GRAFT_SPIN=0), then alternates their steps (ABBA order) so both see the same load. On a shared machine this
 * separates a 10 % change from the load drift that swamps back-to-back runs.
 * Run: node --import tsx bench/ab.ts <forward|input-grad|train-step> <model> <batch> <rounds> "<env A>" "<env B>" [random]
 */
import os from 'node:os';
import { loadModel } from '../src/models/load.js';
import { forwardCase, inputGradCase, trainStepCase, type BenchCase } from '../src/bench/cases.js';

const [kind, model, batchArg, roundsArg, envA = '', envB = '', random] = process.argv.slice(2);
if (!kind || !model) {
  console.log('usage: node --import tsx bench/ab.ts <forward|input-grad|train-step> <model> <batch> <rounds> "<env A>" "<env B>" [random]');
  process.exit(1);
}
const m = await loadModel(model, { randomWeights: random === 'random', seed: 0 });
const batch = Number(batchArg ?? 16);
const rounds = Number(roundsArg ?? 8);

async function build(env: string): Promise<BenchCase> {
  const saved = { ...process.env };
  for (const kv of env.split(' ').filter(Boolean)) {
    const [k, v = ''] = kv.split('=');
    process.env[k] = v;
  }
  try {
    const o = { batch, seed: 0, session: { threads: 2 } };
    return kind === 'forward' ? await forwardCase(m, o)
      : kind === 'input-grad' ? await inputGradCase(m, o)
        : await trainStepCase(m, o, random === 'random' ? 'batch' : 'frozen');
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

const cases = [await build(envA), await build(envB)];
const wall: number[][] = [[], []];
const cpu: number[][] = [[], []];
for (const c of cases) await c.step();
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < 2; i++) {
    const k = r % 2 ? 1 - i : i;
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await cases[k].step();
    wall[k].push(performance.now() - t0);
    const used = process.cpuUsage(c0);
    cpu[k].push((used.user + used.system) / 1000);
  }
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const min = (v: number[]) => Math.min(...v);
const ratios = wall[0].map((a, i) => wall[1][i] / a);
const side = (i: number, env: string) => `${env || '(defaults)'}: min ${min(wall[i]).toFixed(0)} ms, median ${median(wall[i]).toFixed(0)} ms, CPU ${median(cpu[i]).toFixed(0)} ms per step`;
console.log(`${kind} ${model} batch ${batch}, ${rounds} steps each, load ${os.loadavg()[0].toFixed(1)}`);
console.log(`  A ${side(0, envA)}`);
console.log(`  B ${side(1, envB)}`);
console.log(`  B/A: best-of ${(min(wall[1]) / min(wall[0])).toFixed(3)}, median of per-step ratios ${median(ratios).toFixed(3)}`);
for (const c of cases) await c.release();
