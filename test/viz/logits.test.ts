import assert from 'node:assert/strict';
import { test } from 'node:test';
import { logitsTensor } from '../../src/models/logits.js';
import { GraphBuilder, cloneGraph } from '../../src/onnx/graph.js';
import { Session, asFloat32, float32 } from '../../src/runtime/session.js';
import { softmaxRows } from '../../src/math/rows.js';
import { Rng } from '../../src/util/rng.js';
import { TINY_CLASSES, tinyModel } from './tiny-model.js';

test('logitsTensor: the output of a logits model', () => {
  const m = tinyModel(1, 'Relu', 'logits');
  assert.equal(logitsTensor(m, new GraphBuilder(cloneGraph(m.model.graph))), m.outputName);
});

test('logitsTensor: a softmax model yields its flattened Softmax input, whose softmax is the output', async () => {
  const m = tinyModel(2, 'Relu', 'probabilities');
  const graph = cloneGraph(m.model.graph);
  const logits = logitsTensor(m, new GraphBuilder(graph));
  assert.notEqual(logits, m.outputName);
  assert.equal(logitsTensor(m, new GraphBuilder(graph)), logits, 'a second call reuses the node');
  assert.ok(!m.model.graph.nodes.some((n) => n.outputs.includes(logits)), 'the model it was handed is not changed');
  graph.outputs.push({ name: logits, dtype: 'float32', shape: ['N', TINY_CLASSES] });
  const session = await Session.create({ ...m.model, graph });
  const rng = new Rng(3);
  const x = Float32Array.from({ length: 2 * 3 * 64 }, () => rng.normal());
  const out = await session.run({ input: float32(x, [2, 3, 8, 8]) });
  const z = asFloat32(out[logits]);
  assert.equal(out[logits].dims.join(), `2,${TINY_CLASSES}`);
  const p = asFloat32(out[m.outputName]);
  const expected = softmaxRows(z, 2);
  for (let i = 0; i < p.length; i++) assert.ok(Math.abs(p[i] - expected[i]) < 1e-6);
  await session.release();
});
