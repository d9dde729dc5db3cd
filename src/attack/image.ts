/**
 * Attacking one image file end to end: crop at network size, attack, save the 8-bit PNG, read the PNG back
 * and measure what the model (and optionally a second model) says about it.
 */
import type { RgbImage } from '../image/decode.js';
import { decodeImage } from '../image/decode.js';
import { encodePng, savePng } from '../image/encode.js';
import { loadImageRgbCropped } from '../image/preprocess.js';
import { batchDims, toTensor } from '../image/layout.js';
import type { GraftModel } from '../models/load.js';
import { modelSession } from '../runtime/runner.js';
import { argmax, softmaxRows } from '../math/rows.js';
import { float32, type Session } from '../runtime/session.js';
import { GraftError } from '../util/errors.js';
import type { ProgressSink } from '../util/progress.js';
import { LossGradient, cropToPixels, l2Distance, linfDistance, pixelsToCrop, psnr } from './common.js';
import { resolveSettings, runAttack, type AttackSettings } from './methods.js';

export interface ClassReport { index: number; label: string; probability: number }

export interface TransferReport extends ClassReport {
  model: string;
  /** Targeted: the second model predicts the target; untargeted: its prediction differs from the one on the original crop. */
  fooled: boolean;
  /** The second model's prediction on the original crop. */
  original: ClassReport;
}

export interface AttackReport {
  image: string;
  out: string;
  settings: AttackSettings;
  /** Target class index (targeted attacks). */
  target?: number;
  original: ClassReport;
  /** Measured on the saved PNG, read back. */
  adversarial: ClassReport;
  /** Targeted: the PNG is classified as the target; untargeted: no longer as the original class. */
  success: boolean;
  linf: number;
  l2: number;
  psnr: number;
  /** How the PNG was read back: the model's own preprocessing (which reproduces the crop exactly), or the crop fed directly because that preprocessing would resize it. */
  reread: 'preprocess' | 'direct';
  gradientEvaluations: number;
  transfer?: TransferReport;
}

export interface AttackImageOptions {
  settings: AttackSettings;
  /** Target class index; undefined for an untargeted attack on the model's own prediction. */
  target?: number;
  out: string;
  /** Side-by-side PNG: original | ×10 perturbation | adversarial. */
  compare?: string;
  transfer?: GraftModel;
  progress?: ProgressSink;
}

/** A model session that returns class probabilities of 8-bit crops under the model's normalisation. */
export class CropClassifier {
  private constructor(readonly m: GraftModel, private readonly session: Session, private readonly output: string) {}

  static async create(m: GraftModel): Promise<CropClassifier> {
    const { session, outputs } = await modelSession(m);
    return new CropClassifier(m, session, outputs[0]);
  }

  /** Probability rows, one per crop. */
  async classify(crops: RgbImage[]): Promise<Float32Array[]> {
    const pre = this.m.preprocess;
    const item = 3 * pre.size[0] * pre.size[1];
    const data = new Float32Array(crops.length * item);
    crops.forEach((c, i) => data.set(toTensor(c, pre), i * item));
    const out = (await this.session.run({ [this.m.inputName]: float32(data, batchDims(crops.length, pre)) }, [this.output]))[this.output].data as Float32Array;
    const probs = this.m.output === 'logits' ? softmaxRows(out, crops.length) : out;
    const k = probs.length / crops.length;
    return crops.map((_, i) => probs.slice(i * k, (i + 1) * k));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Class probabilities of 8-bit crops (a one-off session; use CropClassifier in loops). */
export async function classifyCrops(m: GraftModel, crops: RgbImage[]): Promise<Float32Array[]> {
  const c = await CropClassifier.create(m);
  try {
    return await c.classify(crops);
  } finally {
    await c.release();
  }
}

function top(m: GraftModel, probs: Float32Array): ClassReport {
  const index = argmax(probs);
  return { index, label: m.labels[index] ?? `class ${index}`, probability: probs[index] };
}

function sameImage(a: RgbImage, b: RgbImage): boolean {
  return a.width === b.width && a.height === b.height && Buffer.compare(Buffer.from(a.data), Buffer.from(b.data)) === 0;
}

/** Reads a saved adversarial PNG as the model will see it (see AttackReport.reread). */
export async function rereadPng(m: GraftModel, file: string, expected: RgbImage): Promise<{ crop: RgbImage; reread: 'preprocess' | 'direct' }> {
  const viaPreprocess = await loadImageRgbCropped(file, m.preprocess);
  if (sameImage(viaPreprocess, expected)) return { crop: viaPreprocess, reread: 'preprocess' };
  const raw = await decodeImage(file);
  if (!sameImage(raw, expected)) throw new GraftError('IMAGE_DECODE', `${file}: the PNG read back differs from the image written`);
  return { crop: raw, reread: 'direct' };
}

/** The perturbation amplified ×10 around mid-grey, clamped. */
export function amplifiedDifference(original: RgbImage, adversarial: RgbImage, gain = 10): RgbImage {
  const data = new Uint8Array(original.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.min(255, Math.max(0, Math.round(128 + gain * (adversarial.data[i] - original.data[i]))));
  return { data, width: original.width, height: original.height };
}

/** Places equally sized images side by side with a gap of white pixels. */
export function sideBySide(images: RgbImage[], gap = 4): RgbImage {
  const { height } = images[0];
  const width = images.reduce((w, im) => w + im.width, 0) + gap * (images.length - 1);
  const data = new Uint8Array(width * height * 3).fill(255);
  let x0 = 0;
  for (const im of images) {
    if (im.height !== height) throw new GraftError('SHAPE', 'sideBySide: images differ in height');
    for (let y = 0; y < height; y++) data.set(im.data.subarray(y * im.width * 3, (y + 1) * im.width * 3), (y * width + x0) * 3);
    x0 += im.width + gap;
  }
  return { data, width, height };
}

/** Attacks one image file and saves the adversarial crop as PNG; the report's adversarial numbers come from the PNG read back. */
export async function attackImage(m: GraftModel, image: string, opts: AttackImageOptions): Promise<AttackReport> {
  const pre = m.preprocess;
  const crop = await loadImageRgbCropped(image, pre);
  const [cleanProbs] = await classifyCrops(m, [crop]);
  const original = top(m, cleanProbs);
  const targeted = opts.target !== undefined;
  const goal = { targeted, sets: [[targeted ? opts.target! : original.index]] };
  const lg = await LossGradient.create(m, 1);
  let result;
  try {
    const settings = resolveSettings(opts.settings);
    const task = opts.progress?.start(`attack (${settings.method})`, undefined, 'step');
    result = await runAttack(lg, [cropToPixels(crop, pre)], goal, opts.settings, task);
    task?.finish();
  } finally {
    await lg.release();
  }
  const advCrop = pixelsToCrop(result.adversarial[0], pre);
  await savePng(advCrop, opts.out);
  const { crop: reread, reread: how } = await rereadPng(m, opts.out, advCrop);
  const [advProbs] = await classifyCrops(m, [reread]);
  const adversarial = top(m, advProbs);
  const report: AttackReport = {
    image,
    out: opts.out,
    settings: resolveSettings(opts.settings),
    target: opts.target,
    original,
    adversarial,
    success: targeted ? adversarial.index === opts.target : adversarial.index !== original.index,
    linf: linfDistance(crop.data, reread.data),
    l2: l2Distance(crop.data, reread.data),
    psnr: psnr(crop.data, reread.data),
    reread: how,
    gradientEvaluations: result.evaluations[0],
  };
  if (opts.compare) await savePng(sideBySide([crop, amplifiedDifference(crop, reread), reread]), opts.compare);
  if (opts.transfer) report.transfer = await transferReport(opts.transfer, crop, opts.out, opts.target);
  return report;
}

/** What a second model says about the original crop and the saved adversarial PNG (each through its own preprocessing). */
async function transferReport(m2: GraftModel, crop: RgbImage, png: string, target: number | undefined): Promise<TransferReport> {
  const originalCrop = await loadImageRgbCropped(await encodePng(crop), m2.preprocess);
  const advCrop = await loadImageRgbCropped(png, m2.preprocess);
  const [p0, p1] = await classifyCrops(m2, [originalCrop, advCrop]);
  const before = top(m2, p0);
  const after = top(m2, p1);
  return { model: m2.id, ...after, fooled: target !== undefined ? after.index === target : after.index !== before.index, original: before };
}
