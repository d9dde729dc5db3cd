import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readNpy, writeNpy } from '../../src/util/npy.js';
import { GraftError } from '../../src/util/errors.js';

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-npy-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A .npy file built by hand from the format description (magic, version, little-endian header length, dict, data). */
function handMade(descr: string, shape: string, payload: Buffer, fortran = false): Buffer {
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shape}, }`;
  while ((10 + header.length + 1) % 64 !== 0) header += ' ';
  header += '\n';
  const len = Buffer.alloc(2);
  len.writeUInt16LE(header.length);
  return Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY', 'latin1'), Buffer.from([1, 0]), len, Buffer.from(header, 'latin1'), payload]);
}

test('writeNpy writes the v1.0 header byte for byte and the float32 data little-endian after it', () => {
  const file = path.join(dir, 'a.npy');
  const data = Float32Array.from([1.5, -2, 3.25, 0, 1e-8, 7]);
  writeNpy(file, data, [2, 3]);
  const bytes = fs.readFileSync(file);
  const payload = Buffer.alloc(24);
  data.forEach((v, i) => payload.writeFloatLE(v, i * 4));
  assert.ok(bytes.equals(handMade('<f4', '(2, 3)', payload)));
  assert.equal((bytes.readUInt16LE(8) + 10) % 64, 0, 'data starts at a 64-byte boundary');
});

test('round trip for 1-D, 3-D and empty shapes', () => {
  for (const shape of [[5], [2, 3, 4], [0, 3]]) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 1000);
    const file = path.join(dir, `r${shape.join('x')}.npy`);
    writeNpy(file, data, shape);
    const back = readNpy(file);
    assert.deepEqual(back.shape, shape);
    assert.deepEqual(back.data, data);
  }
  assert.match(fs.readFileSync(path.join(dir, 'r5.npy')).toString('latin1', 10, 80), /'shape': \(5,\)/);
});

test('float64 files are read and converted to float32', () => {
  const file = path.join(dir, 'f8.npy');
  const values = [0.1, -1e10, 3];
  const payload = Buffer.alloc(24);
  values.forEach((v, i) => payload.writeDoubleLE(v, i * 8));
  fs.writeFileSync(file, handMade('<f8', '(3,)', payload));
  const { data, shape } = readNpy(file);
  assert.deepEqual(shape, [3]);
  assert.deepEqual(data, Float32Array.from(values));
});

test('clear errors: other dtypes, Fortran order, wrong length, not npy, missing, bad write shape', () => {
  const expectError = (fn: () => unknown, pattern: RegExp, file: string) =>
    assert.throws(fn, (err: unknown) => err instanceof GraftError && pattern.test(err.message) && err.message.includes(file));
  const i4 = path.join(dir, 'i4.npy');
  fs.writeFileSync(i4, handMade('<i4', '(2,)', Buffer.alloc(8)));
  expectError(() => readNpy(i4), /dtype '<i4' is not supported/, i4);
  const fortran = path.join(dir, 'fortran.npy');
  fs.writeFileSync(fortran, handMade('<f4', '(2, 2)', Buffer.alloc(16), true));
  expectError(() => readNpy(fortran), /Fortran-order/, fortran);
  const short = path.join(dir, 'short.npy');
  fs.writeFileSync(short, handMade('<f4', '(4,)', Buffer.alloc(12)));
  expectError(() => readNpy(short), /needs 16 data bytes, the file has 12/, short);
  const text = path.join(dir, 'text.npy');
  fs.writeFileSync(text, 'hello there, not numpy');
  expectError(() => readNpy(text), /magic/, text);
  const missing = path.join(dir, 'missing.npy');
  assert.throws(() => readNpy(missing), (err: unknown) => err instanceof GraftError && err.code === 'FILE_NOT_FOUND');
  expectError(() => writeNpy(path.join(dir, 'w.npy'), new Float32Array(5), [2, 3]), /holds 6 values but the data has 5/, 'w.npy');
});

test('numpy reads what writeNpy wrote and writes what readNpy reads (when python3 + numpy exist)', (t) => {
  if (spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status !== 0) {
    t.skip('python3 with numpy not available');
    return;
  }
  const ours = path.join(dir, 'ours.npy');
  const theirs = path.join(dir, 'theirs.npy');
  writeNpy(ours, Float32Array.from([1, 2, 3, 4, 5, 6]), [3, 2]);
  const script = `import numpy as np
a = np.load('${ours}')
assert a.dtype == np.float32 and a.shape == (3, 2) and a[2, 1] == 6, (a.dtype, a.shape)
np.save('${theirs}', (np.arange(12, dtype=np.float64).reshape(2, 3, 2) / 4))`;
  const run = spawnSync('python3', ['-c', script], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const back = readNpy(theirs);
  assert.deepEqual(back.shape, [2, 3, 2]);
  assert.deepEqual(back.data, Float32Array.from({ length: 12 }, (_, i) => i / 4));
});
