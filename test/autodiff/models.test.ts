/**
 * Backward graphs of real architectures: they build, run, agree with a directional finite difference,
 * and the timing of forward + input-gradient vs forward alone is reported (t.diagnostic).
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Model } from '../../src/onnx/types.js';
import { tensorSize } from '../../src/onnx/types.js';
import { Session, asFloat32, float32 } from '../../src/runtime/session.js';
import type { OrtTensor } from '../../src/runtime/session.js';
import { GradientRunner, objectives } from '../../src/autodiff/index.js';
import { mobilenetV2, resnet18 } from '../../src/models/builders/index.js';
import { convertTfjsModel } from '../../src/models/tfjs/convert.js';
import { Rng } from '../../src/util/rng.js';
import { GraphBuilder } from '../../src/onnx/graph.js';
import { attr, floatTensor } from '../../src/onnx/types.js';
import { LARGE_NET_RTOL, referenceDirectional, report } from './fd.js';
import { sharedModels } from '../helpers/paths.js';

const rng = new Rng(11);

interface Case {
  model: Model;
  input: string;
  output: string;
  /** Input dims without the batch. */
  item: number[];
  classes: number;
}

async function timeIt(runs: number, fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const start = performance.now();
  for (let i = 0; i < runs; i++) await fn();
  return (performance.now() - start) / runs;
}

/** The model with objective Σ weights ⊙ output as its only output, named "objective". */
function objectiveModel(model: Model, output: string, weights: Float32Array, dims: number[]): Model {
  const g = { ...model.graph, nodes: [...model.graph.nodes], initializers: new Map(model.graph.initializers), outputs: [] as Model['graph']['outputs'] };
  const b = new GraphBuilder(g);
  const w = b.initializer(floatTensor('objective_weights', dims, weights));
  b.node('ReduceSum', [b.op('Mul', [output, w])], { keepdims: attr.i(0) }, { outputs: ['objective'] });
  b.output('objective', 'float32', []);
  return { ...model, graph: g };
}

/** Gradient of the picked output w.r.t. the input: directional FD check at batch 1, timings at the given batches. */
async function exercise(t: TestContext, name: string, c: Case, batches: number[], runs: number): Promise<void> {
  const forward = await Session.create(c.model);
  for (const n of batches) {
    const dims = [n, ...c.item];
    const x = Float32Array.from({ length: tensorSize(dims) }, () => rng.uniform(-1, 1));
    const onehot = new Float32Array(n * c.classes);
    for (let i = 0; i < n; i++) onehot[i * c.classes + ((7 * i + 3) % c.classes)] = 1;
    const runner = await GradientRunner.create(c.model, (b) => objectives.logit(b, c.output), {
      wrt: [c.input], inputShapes: { [c.input]: dims, target_onehot: [n, c.classes] },
    });
    const feeds: Record<string, OrtTensor> = { [c.input]: float32(x, dims), target_onehot: float32(onehot, [n, c.classes]) };
    const result = await runner.run(feeds);
    const grad = result.grads[c.input];
    assert.equal(grad.length, x.length);
    assert.ok(grad.every(Number.isFinite) && grad.some((v) => v !== 0), `${name}: gradient is finite and non-zero`);

    const objectiveAt = async (shift: number, v: Float32Array) => {
      const out = asFloat32((await forward.run({ [c.input]: float32(x.map((xi, i) => xi + shift * v[i]), dims) }))[c.output]);
      return out.reduce((s, o, i) => s + o * onehot[i], 0);
    };
    const base = await objectiveAt(0, x);
    assert.ok(Math.abs(base - result.objective) <= 1e-3 * Math.max(1, Math.abs(base)), `${name}: objective ${result.objective} = forward ${base}`);
    if (n === 1) {
      const v = Float64Array.from(x, () => rng.normal());
      const norm = Math.sqrt(v.reduce((s, a) => s + a * a, 0));
      v.forEach((a, i) => (v[i] = a / norm));
      const analytic = grad.reduce((s, g, i) => s + g * v[i], 0);
      const gradNorm = Math.sqrt(grad.reduce((s, g) => s + g * g, 0));
      const { numeric, kinks } = referenceDirectional(objectiveModel(c.model, c.output, onehot, [n, c.classes]), { [c.input]: float32(x, dims) }, result.objective, { [c.input]: v });
      report(`large net ${name}`, Math.abs(analytic - numeric) / gradNorm);
      t.diagnostic(`${name}: |analytic − float64 reference| / |∇f| = ${(Math.abs(analytic - numeric) / gradNorm).toExponential(2)}; ${kinks}`);
      assert.ok(Math.abs(analytic - numeric) <= LARGE_NET_RTOL * gradNorm, `${name}: directional derivative ${analytic} vs float64 finite difference ${numeric} (|∇f| ${gradNorm})`);
    }
    const fwdMs = await timeIt(runs, () => forward.run({ [c.input]: feeds[c.input] }));
    const gradMs = await timeIt(runs, () => runner.run(feeds));
    t.diagnostic(`${name} batch ${n}: forward ${(fwdMs / n).toFixed(1)} ms/img, forward+input-gradient ${(gradMs / n).toFixed(1)} ms/img`);
    await runner.release();
  }
  await forward.release();
}

test('MobileNetV2 (builder, 224 px): input gradient builds, runs and matches a finite difference', async (t) => {
  const built = mobilenetV2({ seed: 1 });
  await exercise(t, 'MobileNetV2 224', { model: built.model, input: 'input', output: 'logits', item: [3, 224, 224], classes: 1000 }, [1, 8], 2);
});

const tfjsMobileNet = path.join(sharedModels, 'mobilenet_v1_0.75_224', 'model.json');
test('converted TF.js MobileNet v1 0.75 (NHWC input, softmax output): input gradient', { skip: !fs.existsSync(tfjsMobileNet) && 'shared model missing' }, async (t) => {
  const converted = await convertTfjsModel(tfjsMobileNet);
  await exercise(t, 'TF.js MobileNet v1 0.75', {
    model: converted.model, input: converted.inputName, output: converted.outputName, item: [224, 224, 3], classes: 1000,
  }, [1], 2);
});

test('ResNet-18 (builder, 64 px): input gradient', async (t) => {
  const built = resnet18({ seed: 2, inputSize: 64, classes: 10 });
  await exercise(t, 'ResNet-18 64', { model: built.model, input: 'input', output: 'logits', item: [3, 64, 64], classes: 10 }, [1], 2);
});
