/**
 * Same-run comparison of the linear head's loss+gradient evaluation: onnxruntime graph (MLAS) vs the
 * hand-written float64 kernels of src/train/dense.ts, and k fold evaluations one by one vs one batched run,
 * on synthetic features of a given size.
 * Usage: node --import tsx bench/head-solver.ts [n] [dim] [classes]
 */
import os from 'node:os';
import { LogisticProblem, maskWeights, parameterCount } from '../src/train/logistic.js';
import { createHead } from '../src/train/heads.js';
import { softmaxCrossEntropy } from '../src/train/loss.js';
import { Rng } from '../src/util/rng.js';

const [n, dim, k] = [Number(process.argv[2] ?? 719), Number(process.argv[3] ?? 768), Number(process.argv[4] ?? 37)];
const rng = new Rng(1);
const x = Float32Array.from({ length: n * dim }, () => rng.normal());
const y = Int32Array.from({ length: n }, () => rng.int(k));
const reps = 30;

const problem = await LogisticProblem.create({ x, y, n, dim, nClasses: k });
const params = Float64Array.from({ length: parameterCount(dim, k) }, () => rng.normal() * 0.01);
const grad = new Float64Array(params.length);
const weights = maskWeights(n, Array.from({ length: n }, (_, i) => i));
await problem.evaluate(params, weights, 1e-3, grad);
let t = performance.now();
for (let r = 0; r < reps; r++) await problem.evaluate(params, weights, 1e-3, grad);
const ortMs = (performance.now() - t) / reps;
// The k cross-validation folds: k single evaluations vs one batched session.run of all k.
const folds = 5;
const batch = Array.from({ length: folds }, (_, f) => ({
  params, lambda: 1e-3, grad: new Float64Array(params.length),
  sampleWeight: maskWeights(n, Array.from({ length: n }, (_, i) => i).filter((i) => i % folds !== f)),
}));
await problem.evaluateBatch(batch);
t = performance.now();
for (let r = 0; r < reps; r++) for (const item of batch) await problem.evaluate(item.params, item.sampleWeight, item.lambda, item.grad);
const foldsOneByOneMs = (performance.now() - t) / reps;
t = performance.now();
for (let r = 0; r < reps; r++) await problem.evaluateBatch(batch);
const foldsBatchedMs = (performance.now() - t) / reps;
await problem.release();

const head = createHead({ kind: 'linear', inputDim: dim, nClasses: k, hidden: [], dropout: 0 }, 1);
const step = () => {
  const pass = head.forwardTrain(x, n, rng);
  const { grad: dLogits } = softmaxCrossEntropy(pass.logits, y, k);
  head.backward(pass, dLogits);
};
step();
t = performance.now();
for (let r = 0; r < reps; r++) step();
const jsMs = (performance.now() - t) / reps;
console.log(`n ${n} dim ${dim} classes ${k}: loss+gradient onnxruntime ${ortMs.toFixed(2)} ms, dense.ts ${jsMs.toFixed(2)} ms (${(jsMs / ortMs).toFixed(1)}× slower); ${folds} folds one by one ${foldsOneByOneMs.toFixed(2)} ms, batched ${foldsBatchedMs.toFixed(2)} ms; load ${os.loadavg()[0].toFixed(2)}`);
