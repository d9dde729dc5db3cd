/** Test helpers: tfjs (CPU) loading/saving on disk, photo batches, ONNX runs with tapped layers. */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { exposeOutputs } from '../../src/onnx/graph.js';
import type { Model } from '../../src/onnx/types.js';
import { Session, float32 } from '../../src/runtime/session.js';

export const SHARED = process.env.GRAFT_SHARED ?? path.resolve(import.meta.dirname, '../../../shared');
export const MODELS = path.join(SHARED, 'models');

let backendReady: Promise<boolean> | undefined;

/** Selects tfjs' pure-JS CPU backend once. */
export async function useCpuBackend(): Promise<void> {
  backendReady ??= tf.setBackend('cpu');
  await backendReady;
}

/** An IOHandler that reads model.json and its shards with fs (tf.io.fileSystem exists only in tfjs-node). */
export function fileHandler(modelJsonPath: string): tf.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(fs.readFileSync(modelJsonPath, 'utf8')) as { modelTopology: object; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
      const specs = json.weightsManifest.flatMap((g) => g.weights);
      const bytes = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(path.dirname(modelJsonPath), p)))));
      const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      return { modelTopology: json.modelTopology, weightSpecs: specs, weightData };
    },
  };
}

/** Saves a tfjs model as model.json + weights.bin in `dir` (the TF.js layers format); returns the model.json path. */
export async function saveToDir(model: tf.LayersModel, dir: string): Promise<string> {
  const file = path.join(dir, 'model.json');
  await model.save({
    save: async (artifacts) => {
      const data = artifacts.weightData;
      const buffers = (Array.isArray(data) ? data : [data!]).map((b) => Buffer.from(b));
      fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat(buffers));
      fs.writeFileSync(file, JSON.stringify({ modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }] }));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    },
  });
  return file;
}

export const PHOTOS = [
  'cats_and_dogs_filtered/validation/cats/cat.2000.jpg',
  'cats_and_dogs_filtered/validation/cats/cat.2001.jpg',
  'cats_and_dogs_filtered/validation/dogs/dog.2000.jpg',
].map((p) => path.join(SHARED, 'datasets', p));

/** The photos as one float32 NHWC batch: resized to size×size, RGB, then scale·x + offset. */
export async function photoBatch(files: string[], size: number, scale: number, offset: number): Promise<{ data: Float32Array; dims: number[] }> {
  const data = new Float32Array(files.length * size * size * 3);
  for (const [i, file] of files.entries()) {
    const rgb = await sharp(file).resize(size, size, { fit: 'fill' }).removeAlpha().raw().toBuffer();
    for (let k = 0; k < rgb.length; k++) data[i * rgb.length + k] = rgb[k] * scale + offset;
  }
  return { data, dims: [files.length, size, size, 3] };
}

/** Runs the ONNX model on `input`, returning the output and the named tapped tensors. */
export async function runOnnx(model: Model, input: { data: Float32Array; dims: number[] }, taps: string[] = []): Promise<Record<string, { data: Float32Array; dims: number[] }>> {
  const session = await Session.create({ ...model, graph: exposeOutputs(model.graph, taps) });
  try {
    const out = await session.run({ input: float32(input.data, input.dims) });
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, { data: t.data as Float32Array, dims: [...t.dims] }]));
  } finally {
    await session.release();
  }
}

/** A tfjs tensor's values, transposed NHWC → NCHW when 4-D (the converter's stored layout). */
export function tfToStored(t: tf.Tensor): { data: Float32Array; dims: number[] } {
  const stored = t.rank === 4 ? tf.transpose(t, [0, 3, 1, 2]) : t;
  const result = { data: stored.dataSync() as Float32Array, dims: stored.shape };
  if (stored !== t) stored.dispose();
  return result;
}

export function maxAbsDiff(a: { data: Float32Array; dims: number[] }, b: { data: Float32Array; dims: number[] }): number {
  if (a.dims.join() !== b.dims.join()) throw new Error(`shape mismatch: [${a.dims.join(', ')}] vs [${b.dims.join(', ')}]`);
  let max = 0;
  for (let i = 0; i < a.data.length; i++) max = Math.max(max, Math.abs(a.data[i] - b.data[i]));
  return max;
}

/** Asserts max |got − expected| ≤ tolerance (always with a message: node's generated ones can hang under tsx). */
export function assertClose(what: string, got: { data: Float32Array; dims: number[] }, expected: { data: Float32Array; dims: number[] }, tolerance: number): void {
  const d = maxAbsDiff(got, expected);
  assert.ok(d <= tolerance, `${what}: max |Δ| ${d} > ${tolerance}`);
}

/** The largest |value|, used to scale tolerances of deep layers whose activations reach into the hundreds. */
export function maxAbs(t: { data: Float32Array }): number {
  let max = 0;
  for (const v of t.data) max = Math.max(max, Math.abs(v));
  return max;
}

export function argmaxRows(t: { data: Float32Array; dims: number[] }): number[] {
  const [n, k] = t.dims;
  return Array.from({ length: n }, (_, i) => {
    let best = 0;
    for (let j = 1; j < k; j++) if (t.data[i * k + j] > t.data[i * k + best]) best = j;
    return best;
  });
}
