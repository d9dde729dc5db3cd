/**
 * The studio's model work: everything here runs on a finished run's model.onnx through graft's public API.
 * Images come back as data URLs so the page can show them without another request.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  attackImage, dream, explain, featureMaps, findClass, image, listLayers, loadClassifier, onnx, renderFeatureGrid, type GraftModel,
} from '../index.js';
import type { JobContext } from './jobs.js';
import { HttpError } from './http.js';

const pngUrl = (png: Uint8Array) => `data:image/png;base64,${Buffer.from(png).toString('base64')}`;

/** Loaded classifiers by file (and mtime): loading converts nothing, but it parses a few MB every time. */
const models = new Map<string, { mtime: number; model: Promise<GraftModel> }>();

export function classifierAt(file: string): Promise<GraftModel> {
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  if (!stat) throw new HttpError(404, 'this run has no model.onnx');
  const known = models.get(file);
  if (known && known.mtime === stat.mtimeMs) return known.model;
  const model = loadClassifier(file);
  models.set(file, { mtime: stat.mtimeMs, model });
  model.catch(() => models.delete(file));
  return model;
}

/** The input contract the browser follows: the model's own graft metadata. */
export function contract(file: string): { labels: string[]; preprocess: unknown; metadata: Record<string, string> } {
  const metadata = onnx.readModel(file).metadata;
  if (!metadata['graft.preprocess'] || !metadata['graft.labels']) throw new HttpError(422, 'model.onnx has no graft.preprocess / graft.labels metadata');
  return { labels: JSON.parse(metadata['graft.labels']) as string[], preprocess: JSON.parse(metadata['graft.preprocess']), metadata };
}

/** Grad-CAM of the top class over the network-size crop. */
export async function gradCam(file: string, bytes: Uint8Array): Promise<{ label: string; probability: number; crop: string; overlay: string }> {
  const m = await classifierAt(file);
  const crop = await image.loadImageRgbCropped(bytes, m.preprocess);
  const e = await explain(m, image.toTensor(crop, m.preprocess), { method: 'gradcam' });
  const overlay = image.overlayHeatmap(crop, e.heat, e.hw, 0.6, 'magma', { percentile: 0.01 });
  return { label: e.label, probability: e.probability, crop: pngUrl(await image.encodePng(crop)), overlay: pngUrl(await image.encodePng(overlay)) };
}

export async function layers(file: string): Promise<{ name: string; shape: string }[]> {
  return listLayers(await classifierAt(file)).map((l) => ({ name: l.name, shape: l.shape }));
}

export async function featureGrid(file: string, imageFile: string, layer: string): Promise<{ layer: string; channels: number; grid: string }> {
  const m = await classifierAt(file);
  const fm = await featureMaps(m, imageFile, layer);
  return { layer, channels: fm.channels, grid: pngUrl(await renderFeatureGrid(fm, { count: 32 })) };
}

/** Dreams `className`, sending the image as it forms. */
export async function dreamJob(file: string, className: string, steps: number, ctx: JobContext): Promise<unknown> {
  const m = await classifierAt(file);
  const every = Math.max(1, Math.round(steps / 12));
  const result = await dream(m, {
    class: className, steps, seed: 0, frameEvery: every, progress: ctx.progress,
    onFrame: async (step, img) => {
      ctx.signal.throwIfAborted();
      ctx.emit({ type: 'frame', step, image: pngUrl(await image.encodePng(img)) });
    },
  });
  return { label: result.label, probability: result.probability, image: pngUrl(await image.encodePng(result.image)) };
}

/** PGD toward `target`; the ×10 difference is centred on grey so both signs show. */
export async function attackJob(
  file: string, imageFile: string, target: string, transferFile: string | undefined, outDir: string, ctx: JobContext,
): Promise<unknown> {
  const m = await classifierAt(file);
  const transfer = transferFile ? await classifierAt(transferFile) : undefined;
  const out = path.join(outDir, 'adversarial.png');
  const report = await attackImage(m, imageFile, {
    settings: { method: 'pgd', norm: 'linf', eps: 8, steps: 10, seed: 0 },
    target: findClass(m.labels, target), out, transfer, progress: ctx.progress,
  });
  const original = await image.loadImageRgbCropped(imageFile, m.preprocess);
  const adversarial = await image.decodeImage(out);
  const diff = new Uint8Array(original.data.length);
  for (let i = 0; i < diff.length; i++) diff[i] = Math.max(0, Math.min(255, 128 + 10 * (adversarial.data[i] - original.data[i])));
  return {
    original: report.original, adversarial: report.adversarial, success: report.success, linf: report.linf, psnr: report.psnr,
    // The second model is named by its run, not by its path on this machine.
    transfer: report.transfer ? { ...report.transfer, model: path.basename(path.dirname(report.transfer.model)) } : undefined,
    images: {
      original: pngUrl(await image.encodePng(original)),
      adversarial: pngUrl(await image.encodePng(adversarial)),
      difference: pngUrl(await image.encodePng({ ...original, data: diff })),
    },
  };
}
