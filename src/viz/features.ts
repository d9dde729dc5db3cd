/** Feature maps of any layer: a tiled grid per channel, and the lesson's (positions × channels) heat-map. */
import { GraftError } from '../util/errors.js';
import { applyColormap, type ColormapName } from '../image/colormap.js';
import { renderGrid } from '../image/grid.js';
import { encodePng, resizeNearest } from '../image/encode.js';
import { loadImageRgbCropped } from '../image/preprocess.js';
import { batchDims, toTensor } from '../image/layout.js';
import type { RgbImage } from '../image/decode.js';
import { float32 } from '../runtime/session.js';
import { modelSession } from '../runtime/runner.js';
import { tapTensor, type GraftModel } from '../models/load.js';
import { inferShapes } from '../onnx/shapes.js';

export interface FeatureMaps {
  layer: string;
  tensor: string;
  /** [C, H, W] for spatial layers ([C, 1, 1] for vectors). */
  channels: number;
  height: number;
  width: number;
  /** Channel-major values, C×H×W. */
  data: Float32Array;
  /** The 8-bit network input crop. */
  crop: RgbImage;
}

/** Runs one image to the given layer and returns its activations in channel-major order. */
export async function featureMaps(m: GraftModel, image: string, layer: string): Promise<FeatureMaps> {
  const tensor = tapTensor(m, layer);
  const crop = await loadImageRgbCropped(image, m.preprocess);
  const input = toTensor(crop, m.preprocess);
  const dims = batchDims(1, m.preprocess);
  const { session } = await modelSession(m, [tensor]);
  try {
    const out = (await session.run({ [m.inputName]: float32(input, dims) }, [tensor]))[tensor];
    const d = [...out.dims];
    const data = out.data as Float32Array;
    if (d.length === 4) return { layer, tensor, channels: d[1], height: d[2], width: d[3], data, crop };
    if (d.length === 2) return { layer, tensor, channels: d[1], height: 1, width: 1, data, crop };
    throw new GraftError('SHAPE', `layer ${layer} has output shape [${d.join(', ')}]; feature maps need [1, C, H, W] or [1, C]`);
  } finally {
    await session.release();
  }
}

/** Names of the layers that can be shown, with their output shapes (batch 1). */
export function listLayers(m: GraftModel): { name: string; tensor: string; shape: string }[] {
  const info = inferShapes(m.model.graph, { [m.inputName]: batchDims(1, m.preprocess) });
  const tensorsOfNodes = new Set(m.model.graph.nodes.flatMap((n) => n.outputs));
  const fromTaps = Object.entries(m.taps).filter(([, t]) => tensorsOfNodes.has(t));
  const entries = fromTaps.length
    ? fromTaps
    : m.model.graph.nodes.filter((n) => n.outputs[0]).map((n) => [n.name || n.outputs[0], n.outputs[0]] as [string, string]);
  return entries.map(([name, tensor]) => ({ name, tensor, shape: `[${(info.get(tensor)?.shape ?? []).map((d) => d ?? '?').join(', ')}]` }));
}

/** The first `count` channels as a titled grid (each channel scaled to its own range), PNG bytes. */
export async function renderFeatureGrid(fm: FeatureMaps, opts: { count?: number; map?: ColormapName; tileSize?: number } = {}): Promise<Buffer> {
  if (fm.height === 1 && fm.width === 1) throw new GraftError('SHAPE', `layer ${fm.layer} is a vector (no spatial maps); pick a convolutional layer`);
  const count = Math.min(opts.count ?? 16, fm.channels);
  const plane = fm.height * fm.width;
  const tileSize = opts.tileSize ?? 112;
  const tiles = [{ image: await resizeNearest(fm.crop, tileSize, tileSize), title: 'input' }];
  for (let c = 0; c < count; c++) {
    const values = fm.data.subarray(c * plane, (c + 1) * plane);
    const img = applyColormap(values, fm.width, fm.height, opts.map ?? 'viridis', { percentile: 0 });
    tiles.push({ image: await resizeNearest(img, tileSize, tileSize), title: `ch ${c}` });
  }
  return renderGrid(tiles, { tileSize, title: `${fm.layer}  [${fm.channels}×${fm.height}×${fm.width}], first ${count} channels` });
}

/**
 * The lesson's view of a conv block: activations reshaped to (H·W positions) × C channels, one heat-map
 * (rows = spatial positions, columns = channels), upscaled so each cell is visible.
 */
export async function renderFeatureMatrix(fm: FeatureMaps, map: ColormapName = 'viridis'): Promise<Buffer> {
  const rows = fm.height * fm.width;
  const cols = fm.channels;
  const matrix = new Float32Array(rows * cols);
  for (let c = 0; c < cols; c++) for (let p = 0; p < rows; p++) matrix[p * cols + c] = fm.data[c * rows + p];
  const img = applyColormap(matrix, cols, rows, map, { percentile: 0.005 });
  const scale = Math.max(1, Math.floor(1200 / Math.max(cols, rows)));
  const big = await resizeNearest(img, cols * scale, rows * Math.max(scale, Math.ceil(300 / rows)));
  return encodePng(big);
}
