import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { startStudio, type Studio } from '../../src/studio/server.js';
import { buildClient, rawRequest } from './helpers.js';
import { catsDogs, sharedModels } from '../helpers/paths.js';

// The workspace sits alone in `outer`: anything a hostile request manages to write outside it shows up there.
const outer = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-studio-sec-'));
const workspace = path.join(outer, 'ws');
const LIMIT = 1024 * 1024;
let studio: Studio;
let base: string;

before(async () => {
  process.env.GRAFT_MODELS = sharedModels;
  process.env.GRAFT_CACHE = path.join(os.tmpdir(), 'graft-studio-sec-cache');
  buildClient();
  studio = await startStudio({ dir: workspace, port: 0, maxUploadBytes: LIMIT });
  base = studio.url;
  const post = (p: string, body: unknown) => rawRequest(base, { method: 'POST', path: p, body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  assert.equal((await post('/api/projects', { name: 'Pets' })).status, 201);
  assert.equal((await post('/api/projects/pets/classes', { name: 'cats' })).status, 201);
});

after(async () => {
  await studio.close();
  fs.rmSync(outer, { recursive: true, force: true });
});

test('the studio prints a loopback URL and serves the page with a restrictive CSP', async () => {
  assert.match(base, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.equal(studio.server.address() && (studio.server.address() as { address: string }).address, '127.0.0.1');
  const page = await rawRequest(base, { path: '/' });
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
  assert.equal((await rawRequest(base, { path: '/ort/ort.wasm.min.mjs' })).status, 200);
});

test('path traversal in any encoding is refused with 4xx and leaks nothing', async () => {
  const attempts = [
    '/../../etc/passwd', '/..%2f..%2fetc%2fpasswd', '/%2e%2e/%2e%2e/etc/passwd', '/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd',
    '/%252e%252e%252f%252e%252e%252fetc%252fpasswd', '/ort/..%5c..%5cpackage.json', '/ort/..\\..\\package.json',
    '/ort/ort.wasm.min.mjs%00.txt', '/ort/%00', '/ort/../package.json', '/ort/%2e%2e%2fpackage.json', '/ort/ort.node.min.mjs',
    '/api/projects/%2e%2e', '/api/projects/..%2f..%2f..%2fetc', '/api/projects/pets/classes/cats/images/..%2f..%2fproject.json',
    '/api/projects/pets/classes/cats/images/%2e%2e/%2e%2e/project.json', '/api/projects/pets/classes/cats/images/linked-folder/..%2f..%2f..%2f..%2fetc%2fpasswd',
    '/api/projects/pets/runs/..%2f..%2f/files/model.onnx', '/api/projects/pets/runs/x/files/..%2f..%2fproject.json', '/api/projects/pets/runs/x/files/run.json',
    '/app.js/../../package.json', '//etc/passwd', '/./index.html',
  ];
  for (const p of attempts) {
    const r = await rawRequest(base, { path: p });
    assert.ok(r.status >= 400 && r.status < 500, `${p} → ${r.status}`);
    assert.doesNotMatch(r.body, /root:|"name": "graft"|"classes"/, `${p} leaked a file`);
  }
});

test('requests for another Host or from another Origin are refused (DNS rebinding, CSRF)', async () => {
  const port = new URL(base).port;
  for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1.nip.io:${port}`, `127.0.0.1:${Number(port) + 1}`]) {
    const r = await rawRequest(base, { path: '/api/projects', headers: { Host: host } });
    assert.equal(r.status, 403, `Host ${host} → ${r.status}`);
  }
  for (const origin of ['http://evil.example', 'null', `http://127.0.0.1:${Number(port) + 1}`, `https://127.0.0.1:${port}`]) {
    const r = await rawRequest(base, { method: 'POST', path: '/api/projects', headers: { Origin: origin, 'Content-Type': 'application/json' }, body: '{"name":"csrf"}' });
    assert.equal(r.status, 403, `Origin ${origin} → ${r.status}`);
  }
  const crossSite = await rawRequest(base, { path: '/api/projects', headers: { 'Sec-Fetch-Site': 'cross-site' } });
  assert.equal(crossSite.status, 403);
  const same = await rawRequest(base, { path: '/api/projects', headers: { Origin: `http://localhost:${port}` } });
  assert.equal(same.status, 200, 'the studio itself, reached as localhost, is served');
  assert.ok(!fs.existsSync(path.join(workspace, 'projects', 'csrf')), 'no project was created by the refused requests');
});

test('uploads: size limit, must decode as an image, hostile names are sanitised inside the class folder', async () => {
  const upload = (name: string, body: Buffer) => rawRequest(base, { method: 'POST', path: `/api/projects/pets/classes/cats/images?name=${encodeURIComponent(name)}`, body });
  const big = await sharp({ create: { width: 1200, height: 1200, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 60 } } }).png().toBuffer();
  assert.ok(big.length > LIMIT);
  assert.equal((await upload('big.png', big)).status, 413);
  assert.equal((await upload('passwd.jpg', fs.readFileSync('/etc/passwd'))).status, 415);
  assert.equal((await upload('script.png', Buffer.from('<script>alert(1)</script>'))).status, 415);
  const jpeg = fs.readFileSync(path.join(catsDogs, 'train', 'cats', 'cat.0.jpg'));
  assert.equal((await upload('truncated.jpg', jpeg.subarray(0, jpeg.length >> 1))).status, 415);

  const hostile = ['../../../../pwned.jpg', '..\\..\\..\\pwned.jpg', '/etc/cron.d/pwned.jpg', '.htaccess', 'a\u0000b.jpg', '<img src=x onerror=alert(1)>.jpg', 'x'.repeat(500) + '.jpg', 'cat.php'];
  const stored: string[] = [];
  for (const name of hostile) {
    const r = await upload(name, jpeg);
    assert.equal(r.status, 201, `${name}: ${r.body}`);
    stored.push((JSON.parse(r.body) as { stored: string }).stored);
  }
  for (const s of stored) assert.match(s, /^[A-Za-z0-9][A-Za-z0-9._-]{0,80}\.jpg$/, `stored as ${s}`);
  const classDir = path.join(workspace, 'projects', 'pets', 'data', 'cats');
  assert.deepEqual(fs.readdirSync(classDir).sort(), [...stored].sort(), 'every upload is a plain file in its class folder');

  for (const name of ['../x', 'a/b', '.hidden', 'x\u0000', '', 'c'.repeat(65), 'back\\slash']) {
    const r = await rawRequest(base, { method: 'POST', path: '/api/projects/pets/classes', body: JSON.stringify({ name }) });
    assert.equal(r.status, 400, `class name ${JSON.stringify(name)} → ${r.status}`);
  }
  const r = await rawRequest(base, { method: 'POST', path: '/api/projects/pets/classes', body: JSON.stringify({ name: 'linked', folder: 'relative/path' }) });
  assert.equal(r.status, 400);
  assert.deepEqual(fs.readdirSync(outer), ['ws'], 'nothing was written beside the workspace');
  assert.ok(!fs.existsSync('/pwned.jpg') && !fs.existsSync('/etc/cron.d/pwned.jpg'));
});

test('a class can read a folder on disk: its images are counted and shown, unreadable ones listed with reasons, and the folder is never written', async () => {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-studio-folder-'));
  try {
    for (let i = 0; i < 3; i++) fs.copyFileSync(path.join(catsDogs, 'train', 'dogs', `dog.${i}.jpg`), path.join(folder, `dog.${i}.jpg`));
    fs.writeFileSync(path.join(folder, 'broken.jpg'), 'not a jpeg');
    const before = fs.readdirSync(folder).sort();
    const post = (body: unknown) => rawRequest(base, { method: 'POST', path: '/api/projects/pets/classes', body: JSON.stringify(body) });
    assert.equal((await post({ name: 'inside', folder: workspace })).status, 400, 'the workspace itself cannot be linked');
    const r = await post({ name: 'dogs', folder });
    assert.equal(r.status, 201, r.body);
    const project = JSON.parse((await rawRequest(base, { path: '/api/projects/pets' })).body) as { classes: { name: string; count: number; sample: string[]; unreadable: { file: string; reason: string }[] }[] };
    const dogs = project.classes.find((c) => c.name === 'dogs')!;
    assert.equal(dogs.count, 4, 'three images and the broken file are listed');
    assert.deepEqual(dogs.unreadable.map((u) => u.file), ['broken.jpg']);
    assert.ok(dogs.unreadable[0].reason.length > 0);
    const thumbOf = (file: string) => rawRequest(base, { path: `/api/projects/pets/classes/dogs/images/${file.split('/').map(encodeURIComponent).join('/')}` });
    assert.equal((await thumbOf('linked-folder/broken.jpg')).status, 422, 'an undecodable file is not served');
    const thumb = await thumbOf('linked-folder/dog.0.jpg');
    assert.equal(thumb.status, 200);
    assert.equal(thumb.headers['content-type'], 'image/jpeg');
    // Uploading into a linked class stores in the workspace, not in the user's folder.
    const up = await rawRequest(base, { method: 'POST', path: '/api/projects/pets/classes/dogs/images?name=new.jpg', body: fs.readFileSync(path.join(catsDogs, 'train', 'dogs', 'dog.5.jpg')) });
    assert.equal(up.status, 201);
    assert.deepEqual(fs.readdirSync(folder).sort(), before, 'the linked folder is unchanged');
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
});
