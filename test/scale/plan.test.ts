import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { arraySpec, k8sYaml, resolveShardIndex, shardRange, type LoadedPlan, type Plan } from '../../src/scale/index.js';
import { GraftError } from '../../src/util/errors.js';

test('shards cover every manifest row exactly once, contiguous, never padded, sizes within one', () => {
  for (const [images, shards] of [[3000, 4], [1000, 3], [7, 7], [5, 8], [1, 1], [101, 10]]) {
    const seen: number[] = [];
    const sizes: number[] = [];
    for (let k = 0; k < shards; k++) {
      const { start, end } = shardRange(images, shards, k);
      sizes.push(end - start);
      for (let i = start; i < end; i++) seen.push(i);
    }
    assert.deepEqual(seen, Array.from({ length: images }, (_, i) => i), `${images} images / ${shards} shards`);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `sizes ${sizes}`);
  }
});

test('missing shards become a Slurm --array list (runs of three or more as ranges)', () => {
  assert.equal(arraySpec([2]), '2');
  assert.equal(arraySpec([2, 7, 11]), '2,7,11');
  assert.equal(arraySpec([0, 1, 2, 3, 9, 10]), '0-3,9,10');
});

test('--index auto reads the array index of Kubernetes, Slurm or AWS Batch; the count comes from the plan', () => {
  assert.equal(resolveShardIndex('auto', 4, { JOB_COMPLETION_INDEX: '2' }), 2);
  assert.equal(resolveShardIndex('auto', 4, { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '1' }), 3);
  assert.equal(resolveShardIndex('auto', 4, { AWS_BATCH_JOB_ARRAY_INDEX: '0' }), 0);
  assert.equal(resolveShardIndex('1', 4, {}), 1);
  assert.throws(() => resolveShardIndex('auto', 4, {}), (e: GraftError) => e.code === 'BAD_ARGUMENT' && /JOB_COMPLETION_INDEX/.test(e.message));
  assert.throws(() => resolveShardIndex('auto', 4, { SLURM_ARRAY_TASK_ID: '4' }), /plan has 4 shards/);
  assert.throws(() => resolveShardIndex('-1', 4, {}), /shard index/);
  assert.throws(() => resolveShardIndex('1.5', 4, {}), /shard index/);
});

test('--emit k8s: an Indexed Job with completions, parallelism, backoffLimitPerIndex on a shared volume, and a merge Job', () => {
  const plan: Plan = {
    version: 1, kind: 'extract', root: '/data/images', images: 1000, shards: 16,
    manifest: { file: 'manifest.jsonl', sha256: 'x' }, model: { spec: 'mobilenet_v1_0.75', id: 'mobilenet_v1_0.75', hash: 'h' },
    options: { batchSize: 32, tap: 'features', pooling: 'avg' }, graftCommand: ['graft'],
  };
  const p: LoadedPlan = { dir: '/data/plans/p1', plan, hash: 'abcdef0123456789', manifest: [] };
  const docs = parseAllDocuments(k8sYaml(p, { image: 'registry.example/graft:1', parallelism: 4, backoffLimitPerIndex: 3, claim: 'shared' }));
  assert.equal(docs.length, 2);
  for (const d of docs) assert.equal(d.errors.length, 0);
  const [shards, merge] = docs.map((d) => d.toJS() as Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(shards.apiVersion, 'batch/v1');
  assert.equal(shards.kind, 'Job');
  assert.equal(shards.spec.completionMode, 'Indexed');
  assert.equal(shards.spec.completions, 16);
  assert.equal(shards.spec.parallelism, 4);
  assert.equal(shards.spec.backoffLimitPerIndex, 3);
  assert.equal(shards.spec.template.spec.restartPolicy, 'Never', 'backoffLimitPerIndex needs restartPolicy Never');
  const c = shards.spec.template.spec.containers[0];
  assert.equal(c.image, 'registry.example/graft:1');
  assert.deepEqual(c.command, ['graft', 'shard', '/data/plans/p1', '--index', 'auto']);
  assert.equal(c.volumeMounts[0].mountPath, '/data', 'one mount holds both the plan and the images');
  assert.equal(shards.spec.template.spec.volumes[0].persistentVolumeClaim.claimName, 'shared');
  assert.equal(merge.kind, 'Job');
  assert.notEqual(merge.metadata.name, shards.metadata.name);
  const mc = merge.spec.template.spec.containers[0];
  assert.match(mc.command.join(' '), /graft status '\/data\/plans\/p1'.*graft merge '\/data\/plans\/p1'/);
  assert.equal(merge.spec.template.spec.volumes[0].persistentVolumeClaim.claimName, 'shared');
  assert.match(shards.metadata.name, /^[a-z0-9-]{1,63}$/);
});
