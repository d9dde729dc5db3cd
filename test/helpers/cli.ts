import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot, sharedModels } from './paths.js';

export interface CliResult { code: number; stdout: string; stderr: string }

/** Runs `graft …` from source in a child process with GRAFT_MODELS pointing at ../shared/models. */
export function graft(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/cli/run.ts'), ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, GRAFT_MODELS: sharedModels, ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
