import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import * as tar from 'tar';
import { extractArchive, archiveKind } from '../../src/data/archive.js';
import { GraftError } from '../../src/util/errors.js';
import { rawTar, rawZip, type RawEntry } from './archive-fixture.js';

let tmp: string;
let counter = 0;

before(async () => {
  tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'graft-archive-'));
});

after(async () => {
  await fs.promises.rm(tmp, { recursive: true, force: true });
});

/** A fresh work dir holding `archive.<ext>` and an `out/` target; the work dir itself plays "outside". */
function workDir(): string {
  const dir = path.join(tmp, `case-${counter++}`);
  fs.mkdirSync(dir);
  return dir;
}

/** Every path under dir (relative, sorted), with symlinks shown as `name -> target`. */
function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const d of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = path.posix.join(rel, d.name);
      if (d.isSymbolicLink()) out.push(`${r} -> ${fs.readlinkSync(path.join(dir, r))}`);
      else if (d.isDirectory()) { out.push(`${r}/`); walk(r); }
      else out.push(r);
    }
  };
  walk('');
  return out.sort();
}

async function expectRefused(archive: string, out: string, entryName: string): Promise<void> {
  const err = await extractArchive(archive, out).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof GraftError, `expected a GraftError, got ${String(err)}`);
  assert.equal(err.code, 'DATASET');
  assert.ok(err.message.includes(`"${entryName}`), `message names entry ${entryName}: ${err.message}`);
}

test('archiveKind recognises the supported extensions', () => {
  assert.equal(archiveKind('a/images.tar.gz'), 'tar.gz');
  assert.equal(archiveKind('x.TGZ'), 'tar.gz');
  assert.equal(archiveKind('x.tar'), 'tar');
  assert.equal(archiveKind('x.zip'), 'zip');
  assert.equal(archiveKind('x.rar'), undefined);
});

test('tar.gz and tar made with tar.c extract to an identical tree, including an inside symlink', async () => {
  const work = workDir();
  const src = path.join(work, 'src');
  fs.mkdirSync(path.join(src, 'data', 'cats'), { recursive: true });
  fs.writeFileSync(path.join(src, 'data', 'cats', 'a.jpg'), 'cat-a');
  fs.writeFileSync(path.join(src, 'data', 'readme.txt'), 'hello');
  fs.symlinkSync('cats/a.jpg', path.join(src, 'data', 'alias.jpg'));

  for (const [name, gzip] of [['a.tar.gz', true], ['a.tar', false]] as const) {
    const archive = path.join(work, name);
    await tar.c({ file: archive, cwd: src, gzip }, ['data']);
    const out = path.join(work, `out-${name}`);
    await extractArchive(archive, out);
    assert.deepEqual(listTree(out), listTree(src));
    assert.equal(fs.readFileSync(path.join(out, 'data', 'alias.jpg'), 'utf8'), 'cat-a');
  }
});

test('tar entry ../evil.txt (written by tar.c with preservePaths) is refused and nothing is written', async () => {
  const work = workDir();
  fs.mkdirSync(path.join(work, 'src'));
  fs.writeFileSync(path.join(work, 'evil.txt'), 'evil');
  fs.writeFileSync(path.join(work, 'src', 'ok.txt'), 'ok');
  const archive = path.join(work, 'bad.tgz');
  await tar.c({ file: archive, cwd: path.join(work, 'src'), gzip: true, preservePaths: true }, ['ok.txt', '../evil.txt']);
  fs.rmSync(path.join(work, 'evil.txt'));

  const out = path.join(work, 'out');
  await expectRefused(archive, out, '../evil.txt');
  assert.deepEqual(listTree(out), [], 'checked before anything was written');
  assert.ok(!fs.existsSync(path.join(work, 'evil.txt')));
});

const maliciousTars: [string, RawEntry[], string][] = [
  ['absolute path', [{ name: '/tmp/graft-evil.txt', data: 'x' }], '/tmp/graft-evil.txt'],
  ['nested ..', [{ name: 'a/../../evil.txt', data: 'x' }], 'a/../../evil.txt'],
  ['symlink to a parent dir', [{ name: 'up', type: 'SymbolicLink', linkpath: '../..' }], 'up'],
  ['symlink to an absolute path', [{ name: 'etc', type: 'SymbolicLink', linkpath: '/etc' }], 'etc'],
  ['hardlink outside', [{ name: 'h', type: 'Link', linkpath: '../outside.txt' }], 'h'],
  ['file written through an archive symlink',
    [{ name: 'here', type: 'SymbolicLink', linkpath: '.' }, { name: 'here/x.txt', data: 'x' }], 'here/x.txt'],
  ['symlink chain escaping through another link',
    [{ name: 'here', type: 'SymbolicLink', linkpath: '.' }, { name: 'esc', type: 'SymbolicLink', linkpath: 'here/..' }], 'esc'],
  ['device/FIFO entry', [{ name: 'fifo', type: 'FIFO' }], 'fifo'],
];

for (const [what, entries, bad] of maliciousTars) {
  test(`tar with ${what} is refused naming the entry`, async () => {
    const work = workDir();
    const archive = path.join(work, 'bad.tar');
    fs.writeFileSync(archive, rawTar([{ name: 'fine.txt', data: 'fine' }, ...entries]));
    const out = path.join(work, 'out');
    await expectRefused(archive, out, bad);
    assert.deepEqual(listTree(out), []);
  });
}

test('hand-built tar with safe links extracts them (control for the refusals above)', async () => {
  const work = workDir();
  const archive = path.join(work, 'ok.tar.gz');
  fs.writeFileSync(archive, zlib.gzipSync(rawTar([
    { name: 'd/', type: 'Directory' },
    { name: 'd/f.txt', data: 'content' },
    { name: 'd/s', type: 'SymbolicLink', linkpath: 'f.txt' },
    { name: 'top', type: 'SymbolicLink', linkpath: 'd/f.txt' },
    { name: 'hard.txt', type: 'Link', linkpath: 'd/f.txt' },
  ])));
  const out = path.join(work, 'out');
  await extractArchive(archive, out);
  assert.deepEqual(listTree(out), ['d/', 'd/f.txt', 'd/s -> f.txt', 'hard.txt', 'top -> d/f.txt']);
  assert.equal(fs.readFileSync(path.join(out, 'top'), 'utf8'), 'content');
  assert.equal(fs.readFileSync(path.join(out, 'hard.txt'), 'utf8'), 'content');
});

test('zip with files, folders and an inside symlink extracts byte-exactly', async () => {
  const work = workDir();
  const archive = path.join(work, 'ok.zip');
  const blob = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
  fs.writeFileSync(archive, rawZip([
    { name: 'set/' },
    { name: 'set/train/dogs/d1.jpg', data: blob },
    { name: 'set/train/cats/c1.jpg', data: 'cat' },
    { name: 'set/link.jpg', symlinkTo: 'train/cats/c1.jpg' },
  ]));
  const out = path.join(work, 'out');
  await extractArchive(archive, out);
  assert.deepEqual(listTree(out), [
    'set/', 'set/link.jpg -> train/cats/c1.jpg', 'set/train/', 'set/train/cats/', 'set/train/cats/c1.jpg',
    'set/train/dogs/', 'set/train/dogs/d1.jpg',
  ]);
  assert.ok(fs.readFileSync(path.join(out, 'set/train/dogs/d1.jpg')).equals(blob));
  assert.equal(fs.readFileSync(path.join(out, 'set/link.jpg'), 'utf8'), 'cat');
});

const maliciousZips: [string, { name: string; data?: string; symlinkTo?: string }[], string][] = [
  ['../evil.txt', [{ name: '../evil.txt', data: 'evil' }], '../evil.txt'],
  ['a backslash path ..\\evil.txt', [{ name: '..\\evil.txt', data: 'evil' }], '../evil.txt'],
  ['an absolute path', [{ name: '/tmp/graft-evil.txt', data: 'evil' }], '/tmp/graft-evil.txt'],
  ['a symlink pointing outside', [{ name: 'out', symlinkTo: '../../etc' }], 'out'],
  ['a file inside an archive symlink', [{ name: 'l', symlinkTo: '.' }, { name: 'l/x', data: 'x' }], 'l/x'],
];

for (const [what, entries, bad] of maliciousZips) {
  test(`zip with ${what} is refused naming the entry, nothing written`, async () => {
    const work = workDir();
    const archive = path.join(work, 'bad.zip');
    fs.writeFileSync(archive, rawZip([{ name: 'fine.txt', data: 'fine' }, ...entries]));
    const out = path.join(work, 'out');
    await expectRefused(archive, out, bad);
    assert.deepEqual(listTree(out), []);
    assert.ok(!fs.existsSync(path.join(work, 'evil.txt')));
  });
}

test('unknown archive type and missing archive are clear errors', async () => {
  const work = workDir();
  const rar = await extractArchive(path.join(work, 'x.rar'), path.join(work, 'out')).catch((e: unknown) => e);
  assert.ok(rar instanceof GraftError && rar.code === 'BAD_ARGUMENT');
  const missing = await extractArchive(path.join(work, 'none.zip'), path.join(work, 'out')).catch((e: unknown) => e);
  assert.ok(missing instanceof GraftError && missing.code === 'FILE_NOT_FOUND');
});
