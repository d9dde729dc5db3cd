/**
 * `graft train --model scratch-cnn` killed for real (kill -9, and SIGTERM), then `--resume`: the finished run's
 * model.onnx is byte-identical to an uninterrupted run's and its history equal (GRAFT_THREADS=1 makes
 * onnxruntime deterministic; data order and augmentation derive from (seed, epoch, step) only).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { graft } from '../helpers/cli.js';
import { repoRoot, sharedModels } from '../helpers/paths.js';
import { readCheckpoint } from '../../src/train/finetune/checkpoint.js';
import { syntheticDataset } from './synthetic.js';

const EPOCHS = 4;
const env = { GRAFT_THREADS: '1' };

function trainArgs(root: string, out: string): string[] {
  return ['train', root, '--model', 'scratch-cnn', '--input-size', '32', '--epochs', String(EPOCHS), '--batch', '4', '--lr', '0.003', '--seed', '4', '--no-plots', '-o', out];
}

/** Starts the training in a child process, waits for its first checkpoint, then sends `signal`. */
async function interrupted(args: string[], checkpoint: string, signal: NodeJS.Signals): Promise<number | null> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/cli/run.ts'), ...args], {
    cwd: repoRoot, env: { ...process.env, GRAFT_MODELS: sharedModels, ...env }, stdio: 'ignore',
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (!fs.existsSync(checkpoint) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 5));
  child.kill(signal);
  return exited;
}

const stripSeconds = (report: { history: { seconds: number }[] }) => report.history.map(({ seconds: _s, ...row }) => row);

test('kill -9 after the first checkpoint, SIGTERM mid-run, then --resume: same model bytes and history as an uninterrupted run', async () => {
  const root = await syntheticDataset({ train: 16, validation: 4 }, 21);
  const whole = graft(trainArgs(root, path.join(root, 'whole')), env);
  assert.equal(whole.code, 0, whole.stderr);
  const reference = fs.readFileSync(path.join(root, 'whole', 'model.onnx'));
  const referenceReport = JSON.parse(fs.readFileSync(path.join(root, 'whole', 'report.json'), 'utf8'));
  assert.equal(referenceReport.history.length, EPOCHS);

  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    const out = path.join(root, signal);
    const checkpoint = path.join(out, 'checkpoint', 'checkpoint.bin');
    const code = await interrupted(trainArgs(root, out), checkpoint, signal);
    const saved = readCheckpoint<{ epoch: number; step: number }>(checkpoint)!;
    assert.ok(saved.meta.epoch < EPOCHS, `${signal} landed before the run finished (checkpoint at epoch ${saved.meta.epoch})`);
    assert.ok(!fs.existsSync(path.join(out, 'model.onnx')));
    if (signal === 'SIGTERM') assert.equal(code, 130, 'SIGTERM: checkpoint written, exit code 130');

    const resumed = graft(['train', root, '--resume', path.join(out, 'checkpoint')], env);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /resuming from .*: \d+ epoch\(s\) done/);
    assert.ok(fs.readFileSync(path.join(out, 'model.onnx')).equals(reference), `${signal}: resumed model.onnx is byte-identical`);
    assert.deepEqual(stripSeconds(JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'))), stripSeconds(referenceReport));
  }
});
