import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REGISTRY, type RegistryEntry } from '../../src/models/registry.js';
import { loadModel } from '../../src/models/load.js';
import { classify } from '../../src/predict/classify.js';
import { sha256 } from '../../src/util/fsutil.js';
import { startServer } from '../data/http-fixture.js';
import { catsDogs, sharedModels } from '../helpers/paths.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-registry-'));
const onnxBytes = fs.readFileSync(path.join(sharedModels, 'mobilenetv2-12-int8.onnx'));
const added: RegistryEntry[] = [];

function addEntry(name: string, url: string, hash?: string): RegistryEntry {
  const base = REGISTRY.find((e) => e.name === 'mobilenetv2_int8')!;
  const entry: RegistryEntry = { ...base, name, file: `${name}.onnx`, url, sha256: hash };
  REGISTRY.push(entry);
  added.push(entry);
  return entry;
}

after(() => {
  for (const e of added) REGISTRY.splice(REGISTRY.indexOf(e), 1);
});

function withEnv(models: string, cache: string): void {
  // imagenet_classes.json stays reachable through the shared folder, the model itself is not there.
  process.env.GRAFT_MODELS = [models, sharedModels].join(path.delimiter);
  process.env.GRAFT_CACHE = cache;
}

test('a registry entry downloads once into the cache (sha256 checked, atomic), then resolves locally', async () => {
  const server = await startServer({ '/zoo/net.onnx': { body: onnxBytes } });
  try {
    const cache = path.join(work, 'cache1');
    withEnv(path.join(work, 'empty'), cache);
    addEntry('test_download_net', `${server.base}/zoo/net.onnx`, sha256(onnxBytes));
    const m = await loadModel('test_download_net');
    assert.equal(m.source, path.join(cache, 'models', 'test_download_net.onnx'));
    assert.deepEqual(fs.readdirSync(path.join(cache, 'models')), ['test_download_net.onnx'], 'no temporary files left');
    const [res] = await classify(m, [path.join(catsDogs, 'validation', 'cats', 'cat.2000.jpg')], { top: 1 });
    assert.ok(res.predictions[0].index >= 281 && res.predictions[0].index <= 285, `a cat class, got ${res.predictions[0].label}`);
    await loadModel('test_download_net');
    assert.equal(server.requests.length, 1, 'the second load must not download again');
  } finally {
    await server.close();
  }
});

test('a checksum mismatch is refused and leaves nothing behind', async () => {
  const server = await startServer({ '/zoo/net.onnx': { body: onnxBytes } });
  try {
    const cache = path.join(work, 'cache2');
    withEnv(path.join(work, 'empty'), cache);
    addEntry('test_bad_hash', `${server.base}/zoo/net.onnx`, '0'.repeat(64));
    await assert.rejects(loadModel('test_bad_hash'), (err: Error) => /sha256|checksum/i.test(err.message));
    const left = fs.existsSync(path.join(cache, 'models')) ? fs.readdirSync(path.join(cache, 'models')) : [];
    assert.deepEqual(left, []);
  } finally {
    await server.close();
  }
});

test('offline with no local file: one clear error naming the URL and where to put the file', async () => {
  const cache = path.join(work, 'cache3');
  withEnv(path.join(work, 'empty'), cache);
  addEntry('test_offline', 'http://127.0.0.1:9/unreachable/net.onnx');
  await assert.rejects(loadModel('test_offline'), (err: Error) => {
    assert.match(err.message, /http:\/\/127\.0\.0\.1:9\/unreachable\/net\.onnx/);
    assert.match(err.message, /test_offline\.onnx/);
    assert.match(err.message, new RegExp(path.join(cache, 'models').replace(/[/\\]/g, '.')));
    return true;
  });
});

test('GRAFT_MODELS wins over the cache dir', async () => {
  const dir = path.join(work, 'models');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'test_local.onnx'), onnxBytes);
  withEnv(dir, path.join(work, 'cache4'));
  addEntry('test_local', 'http://127.0.0.1:9/never-used.onnx');
  assert.equal((await loadModel('test_local')).source, path.join(dir, 'test_local.onnx'));
});
