/** Converted TF.js models cached as .onnx files, keyed by the content of model.json and its weight shards. */
import fs from 'node:fs';
import path from 'node:path';
import { readModel, writeModel } from '../../onnx/codec.js';
import { writeFileAtomic, sha256, sha256File } from '../../util/fsutil.js';
import { cacheDir as defaultCacheDir } from '../../util/paths.js';
import { GraftError, errorMessage } from '../../util/errors.js';
import { convertTfjsModel, type ConvertedLayer, type ConvertedTfjsModel } from './convert.js';
import { listWeightFiles } from './read.js';

/** Bump whenever the converter's output changes, so stale cache entries are not reused. */
export const CONVERTER_VERSION = 1;

/** How often loadTfjsAsOnnx converted vs. reused a cached file (observable by tests and the CLI). */
export const tfjsCacheStats = { conversions: 0, hits: 0 };

export interface CachedTfjsModel extends ConvertedTfjsModel {
  /** The cached .onnx file (loadable directly with Session.create(path)). */
  onnxPath: string;
  /** sha256 over the converter version, model.json and every weight shard: identifies the weights. */
  contentHash: string;
}

interface Sidecar {
  converterVersion: number;
  source: string;
  inputName: string;
  outputName: string;
  layers: ConvertedLayer[];
}

/** The TF.js model as ONNX, converted once and then read from `cacheDir` (default: the cache's "converted" folder). */
export async function loadTfjsAsOnnx(modelJsonPath: string, opts: { cacheDir?: string } = {}): Promise<CachedTfjsModel> {
  const dir = opts.cacheDir ?? defaultCacheDir('converted');
  const key = await contentKey(modelJsonPath);
  const stem = path.join(dir, `${path.basename(path.dirname(path.resolve(modelJsonPath)))}-${key.slice(0, 24)}`);
  const onnxPath = `${stem}.onnx`;
  const sidecarPath = `${stem}.json`;

  const cached = await readSidecar(sidecarPath);
  if (cached && fs.existsSync(onnxPath)) {
    tfjsCacheStats.hits++;
    return { model: readModel(onnxPath), inputName: cached.inputName, outputName: cached.outputName, layers: cached.layers, onnxPath, contentHash: key };
  }
  const converted = await convertTfjsModel(modelJsonPath);
  tfjsCacheStats.conversions++;
  // the sidecar is written last: its presence marks a complete entry
  await writeModel(converted.model, onnxPath);
  const sidecar: Sidecar = {
    converterVersion: CONVERTER_VERSION,
    source: path.resolve(modelJsonPath),
    inputName: converted.inputName,
    outputName: converted.outputName,
    layers: converted.layers,
  };
  await writeFileAtomic(sidecarPath, JSON.stringify(sidecar, null, 1));
  return { ...converted, onnxPath, contentHash: key };
}

/** sha256 over the converter version, model.json and every weight shard. */
async function contentKey(modelJsonPath: string): Promise<string> {
  let json: Buffer;
  try {
    json = await fs.promises.readFile(modelJsonPath);
  } catch (err) {
    throw new GraftError('FILE_NOT_FOUND', `cannot read TF.js model ${modelJsonPath}: ${errorMessage(err)}`, { cause: err });
  }
  const shards = await listWeightFiles(modelJsonPath);
  const shardHashes = await Promise.all(shards.map(async (f) => {
    try {
      return await sha256File(f);
    } catch (err) {
      throw new GraftError('FILE_NOT_FOUND', `cannot read weight shard ${f} of ${modelJsonPath}: ${errorMessage(err)}`, { cause: err });
    }
  }));
  return sha256([`graft-tfjs-converter-${CONVERTER_VERSION}`, sha256(json), ...shardHashes].join('\n'));
}

async function readSidecar(file: string): Promise<Sidecar | undefined> {
  try {
    const s = JSON.parse(await fs.promises.readFile(file, 'utf8')) as Sidecar;
    return s.converterVersion === CONVERTER_VERSION ? s : undefined;
  } catch {
    return undefined;
  }
}
