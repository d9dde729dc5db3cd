import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { download, ensureFile } from '../../src/util/download.js';
import { GraftError } from '../../src/util/errors.js';
import type { ProgressSink } from '../../src/util/progress.js';
import { startServer, closedPort, type TestServer } from './http-fixture.js';

const body = crypto.randomBytes(300_000);
const bodyHash = crypto.createHash('sha256').update(body).digest('hex');
let server: TestServer;
let tmp: string;

before(async () => {
  server = await startServer({
    '/good.bin': { body },
    '/cut.bin': { body, cutAfter: 100_000 },
  });
  tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'graft-download-'));
});

after(async () => {
  await server.close();
  await fs.promises.rm(tmp, { recursive: true, force: true });
});

function freshDir(name: string): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

function recordingSink(): { sink: ProgressSink; events: { label: string; total?: number; unit?: string; updates: number[]; finished: boolean }[] } {
  const events: { label: string; total?: number; unit?: string; updates: number[]; finished: boolean }[] = [];
  const sink: ProgressSink = {
    start(label, total, unit) {
      const ev = { label, total, unit, updates: [] as number[], finished: false };
      events.push(ev);
      return {
        update: (done) => { ev.updates.push(done); },
        increment: () => { throw new Error('download reports absolute byte counts'); },
        finish: () => { ev.finished = true; },
      };
    },
  };
  return { sink, events };
}

async function expectGraftError(p: Promise<unknown>, code: string): Promise<GraftError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof GraftError, `expected GraftError ${code}, got ${String(err)}`);
  assert.equal(err.code, code);
  return err;
}

test('download: good file with matching sha256 lands at dest with identical bytes and reports progress', async () => {
  const dir = freshDir('good');
  const dest = path.join(dir, 'sub', 'file.bin');
  const { sink, events } = recordingSink();
  const result = await download(`${server.base}/good.bin`, dest, { sha256: bodyHash, progress: sink, label: 'fetch test' });
  assert.equal(result, dest);
  assert.ok(fs.readFileSync(dest).equals(body));
  assert.deepEqual(fs.readdirSync(path.dirname(dest)), ['file.bin']);
  assert.equal(events.length, 1);
  assert.equal(events[0].label, 'fetch test');
  assert.equal(events[0].total, body.length);
  assert.equal(events[0].unit, 'B');
  assert.equal(events[0].updates.at(-1), body.length);
  assert.ok(events[0].finished);
});

test('download: without sha256 the computed hash is logged', async () => {
  const dest = path.join(freshDir('log'), 'file.bin');
  const lines: string[] = [];
  await download(`${server.base}/good.bin`, dest, { log: (l) => lines.push(l) });
  assert.equal(lines.length, 1);
  assert.match(lines[0], new RegExp(bodyHash));
});

test('download: checksum mismatch names url, expected and actual hash, and leaves nothing behind', async () => {
  const dir = freshDir('mismatch');
  const dest = path.join(dir, 'file.bin');
  const wrong = '0'.repeat(64);
  const err = await expectGraftError(download(`${server.base}/good.bin`, dest, { sha256: wrong }), 'CHECKSUM');
  assert.match(err.message, /good\.bin/);
  assert.ok(err.message.includes(wrong));
  assert.ok(err.message.includes(bodyHash));
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('download: HTTP 404 is a DOWNLOAD error naming the URL and the manual hint', async () => {
  const dir = freshDir('404');
  const url = `${server.base}/missing.bin`;
  const err = await expectGraftError(download(url, path.join(dir, 'x.bin'), { manualHint: 'put x.bin into /somewhere/models' }), 'DOWNLOAD');
  assert.ok(err.message.includes(url));
  assert.match(err.message, /404/);
  assert.match(err.message, /put x\.bin into \/somewhere\/models/);
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('download: connection refused is a DOWNLOAD error saying where to place the file', async () => {
  const dir = freshDir('refused');
  const dest = path.join(dir, 'x.bin');
  const url = `http://127.0.0.1:${await closedPort()}/x.bin`;
  const err = await expectGraftError(download(url, dest), 'DOWNLOAD');
  assert.ok(err.message.includes(url));
  assert.match(err.message, /ECONNREFUSED/);
  assert.ok(err.message.includes(dest), 'default hint names the destination');
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('download: a stream interrupted mid-body leaves no partial file at dest', async () => {
  const dir = freshDir('cut');
  const dest = path.join(dir, 'x.bin');
  const err = await expectGraftError(download(`${server.base}/cut.bin`, dest), 'DOWNLOAD');
  assert.match(err.message, /cut\.bin/);
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('ensureFile: prefers searchDirs in order, then cacheDir, and downloads only when absent', async () => {
  const a = freshDir('ensure/a');
  const b = freshDir('ensure/b');
  const cache = freshDir('ensure/cache');
  const opts = { url: `${server.base}/good.bin`, sha256: bodyHash, fileName: 'w.bin', searchDirs: [a, b], cacheDir: cache };

  const before = server.requests.length;
  fs.writeFileSync(path.join(b, 'w.bin'), 'from b');
  fs.writeFileSync(path.join(cache, 'w.bin'), 'from cache');
  assert.equal(await ensureFile(opts), path.join(b, 'w.bin'));
  fs.writeFileSync(path.join(a, 'w.bin'), 'from a');
  assert.equal(await ensureFile(opts), path.join(a, 'w.bin'));
  fs.rmSync(path.join(a, 'w.bin'));
  fs.rmSync(path.join(b, 'w.bin'));
  assert.equal(await ensureFile(opts), path.join(cache, 'w.bin'));
  assert.equal(server.requests.length, before, 'no request while a file exists');

  fs.rmSync(path.join(cache, 'w.bin'));
  assert.equal(await ensureFile(opts), path.join(cache, 'w.bin'));
  assert.ok(fs.readFileSync(path.join(cache, 'w.bin')).equals(body));
  assert.equal(server.requests.length, before + 1);
});

test('ensureFile: a failed download names every directory the file may be placed in', async () => {
  const a = freshDir('ensure-fail/a');
  const cache = freshDir('ensure-fail/cache');
  const err = await expectGraftError(
    ensureFile({ url: `${server.base}/nope.bin`, fileName: 'nope.bin', searchDirs: [a], cacheDir: cache }), 'DOWNLOAD');
  assert.ok(err.message.includes(a) && err.message.includes(cache));
});
