import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildClient, rawRequest } from './helpers.js';
import { repoRoot } from '../helpers/paths.js';

test('`graft studio --port 0 --dir D` prints its loopback URL, serves the page, refuses traversal, and stops on SIGTERM', async () => {
  buildClient();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-studio-cli-'));
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'run.ts'), 'studio', '--port', '0', '--dir', dir], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /^graft studio: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(out);
        if (m) resolve(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`studio exited with ${code}: ${out}`)));
    });
    const page = await rawRequest(url, { path: '/' });
    assert.equal(page.status, 200);
    assert.match(page.body, /<title>graft studio<\/title>/);
    assert.equal((await rawRequest(url, { path: '/%2e%2e/%2e%2e/etc/passwd' })).status, 400);
    assert.ok(fs.existsSync(path.join(dir, 'projects')), 'the workspace was created');
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
