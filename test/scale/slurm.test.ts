/**
 * The real engine: a one-node Slurm cluster on localhost (.ci/slurm-up.sh; CI installs slurmctld slurmd slurm-client
 * munge). The generated P/slurm.sh submits the array with one shard made to fail (GRAFT_SCALE_FAIL_SHARDS, a test-only
 * fault injection) and the merge as an afterany job; the missing index is resubmitted with `sbatch --array=K`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadModel } from '../../src/models/load.js';
import { extractFeatures } from '../../src/train/extract.js';
import { readNpy } from '../../src/util/npy.js';
import { graft } from '../helpers/cli.js';
import { repoRoot, sharedModels } from '../helpers/paths.js';
import { readJsonLines, smallCatsDogs } from './fixtures.js';

const hasSbatch = spawnSync('sh', ['-c', 'command -v sbatch'], { encoding: 'utf8' }).status === 0;
/** .ci/run sets this: in CI a missing Slurm is a failure, not a skip. */
const required = process.env.GRAFT_REQUIRE_SLURM === '1';

function jobsLeft(ids: string[]): boolean {
  const out = execFileSync('squeue', ['-h', '-j', ids.join(','), '-o', '%i %T'], { encoding: 'utf8' });
  return out.trim().length > 0;
}

async function waitForJobs(ids: string[], timeoutMs = 300_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (jobsLeft(ids)) {
    if (Date.now() > end) throw new Error(`Slurm jobs ${ids.join(',')} still queued after ${timeoutMs / 1000} s: ${execFileSync('squeue', { encoding: 'utf8' })}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

test('Slurm: array job with one failed shard, status, resubmit of the missing index, merge equals one-process extraction',
  { skip: hasSbatch || required ? false : 'sbatch not found: install slurmctld slurmd slurm-client munge (.ci/run does) to run the Slurm test' },
  async () => {
    assert.ok(hasSbatch, 'GRAFT_REQUIRE_SLURM=1 but sbatch is not installed');
    execFileSync(path.join(repoRoot, '.ci', 'slurm-up.sh'), { stdio: ['ignore', 'ignore', 'inherit'] });
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-slurm-'));
    const cache = path.join(work, 'cache');
    process.env.GRAFT_MODELS = sharedModels;
    process.env.GRAFT_CACHE = cache;
    const env = { GRAFT_CACHE: cache, GRAFT_MODELS: sharedModels };
    // 25 images per class and split + bad.jpg = 101 images in 4 shards.
    const data = smallCatsDogs(path.join(work, 'data'), 25);
    const P = path.join(work, 'plan');
    let r = graft(['plan', 'extract', data, '--out', P, '--shards', '4', '--emit', 'slurm'], env);
    assert.equal(r.code, 0, r.stderr);
    const script = fs.readFileSync(path.join(P, 'slurm.sh'), 'utf8');
    assert.match(script, /^#SBATCH --array=0-3$/m);

    const submit = spawnSync('bash', [path.join(P, 'slurm.sh')], { cwd: work, encoding: 'utf8', env: { ...process.env, ...env, GRAFT_SCALE_FAIL_SHARDS: '1' } });
    assert.equal(submit.status, 0, submit.stderr);
    const ids = /shards: job (\d+).*merge: job (\d+)/.exec(submit.stdout);
    assert.ok(ids, submit.stdout);
    await waitForJobs([ids[1], ids[2]]);

    // The afterany merge ran once every task had ended, and refused: shard 1 failed.
    const mergeLog = fs.readFileSync(path.join(P, 'logs', `merge-${ids[2]}.out`), 'utf8');
    assert.match(mergeLog, /cannot merge .*1 of 4 shards are not done: 1 /);
    assert.match(fs.readFileSync(path.join(P, 'logs', `shard-1-${ids[1]}.out`), 'utf8'), /fault injected by GRAFT_SCALE_FAIL_SHARDS/);
    r = graft(['status', P], env);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stdout, /^--array=1$/m);
    assert.ok(!fs.existsSync(path.join(P, 'merged')) || !fs.existsSync(path.join(P, 'merged', 'features.npy')));

    // Resubmit only the missing index, without the fault.
    const again = spawnSync('sbatch', ['--wait', '--array=1', path.join(P, 'slurm.sh')], { cwd: work, encoding: 'utf8', env: { ...process.env, ...env } });
    assert.equal(again.status, 0, again.stdout + again.stderr);
    r = graft(['status', P, '--json'], env);
    assert.equal(r.code, 0, r.stdout);
    r = graft(['merge', P], env);
    assert.equal(r.code, 0, r.stderr);

    const { data: merged, shape } = readNpy(path.join(P, 'merged', 'features.npy'));
    const index = readJsonLines<{ image: string }>(path.join(P, 'merged', 'index.jsonl'));
    assert.equal(shape[0], 100);
    const single = await extractFeatures(await loadModel('mobilenet_v1_0.75'), index.map((x) => path.join(data, x.image)));
    assert.equal(single.rows.length, 100, 'same rows');
    assert.equal(single.dim, shape[1]);
    let maxDiff = 0;
    for (let i = 0; i < merged.length; i++) maxDiff = Math.max(maxDiff, Math.abs(merged[i] - single.x[i]));
    assert.ok(maxDiff <= 1e-5, `max |Δ| ${maxDiff}`);
  });
