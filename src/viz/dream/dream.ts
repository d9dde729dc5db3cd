/**
 * "Ideal images": gradient steps on an image parameterisation so the network sees a class (or excites a
 * channel), following the lesson (10·CE + 0.005·TV, plain SGD with lr 1 on the input tensor) and Lucid
 * (Fourier parameterisation with colour decorrelation, jitter / scale / rotate robustness, Adam).
 */
import { resizeSmooth } from '../../image/encode.js';
import type { RgbImage } from '../../image/decode.js';
import { fromTensor, rgbPlanes, toLayout, toTensor } from '../../image/layout.js';
import type { GraftModel } from '../../models/load.js';
import { tapTensor } from '../../models/load.js';
import { findClass } from '../../models/labels.js';
import { argmax, softmaxRows } from '../../math/rows.js';
import { Adam, SGD, type Optimizer } from '../../optim/optim.js';
import { GraftError } from '../../util/errors.js';
import { progressOrSilent, type ProgressSink } from '../../util/progress.js';
import { Rng } from '../../util/rng.js';
import { channelObjective } from './objective/channel-mean.js';
import { classObjective } from './objective/class-probability.js';
import { withTotalVariation } from './objective/total-variation.js';
import { FourierParam } from './param/fourier.js';
import type { ImageParam } from './param/param.js';
import { PixelParam } from './param/pixel.js';
import { crop } from '../../image/planes.js';
import { DreamProblem } from './problem.js';
import { jitter } from './transform/jitter.js';
import { randomRotate } from './transform/rotate.js';
import { randomScale } from './transform/scale.js';
import { drawAll, totalMargin, type Transform } from './transform/transform.js';

export interface DreamOptions {
  /** Target class: index or label text. Required unless layer/channel are given. */
  class?: number | string;
  /** Maximise the mean of channel `channel` of this layer / tap / tensor instead of a class. */
  layer?: string;
  channel?: number;
  steps?: number;
  lr?: number;
  /** Weight of the total-variation term. */
  tv?: number;
  /** Weight of the cross-entropy term. */
  ceWeight?: number;
  optimizer?: 'sgd' | 'adam';
  param?: 'pixel' | 'fft';
  /** Start from uniform noise (default) or from an image. */
  init?: 'noise' | RgbImage;
  /** Random translation of up to this many pixels each step (0: none). */
  jitter?: number;
  scale?: boolean;
  rotate?: boolean;
  seed?: number;
  /** Calls onFrame every this many steps (and after the last one). */
  frameEvery?: number;
  onFrame?: (step: number, image: RgbImage) => void | Promise<void>;
  progress?: ProgressSink;
}

export interface DreamStepRecord {
  step: number;
  loss: number;
  /** Softmax probability of the target class on the (transformed) image the network saw at this step. */
  probability: number;
}

export interface DreamResult {
  image: RgbImage;
  /** Target class (in channel mode without a class: the final image's top class). */
  class: number;
  label: string;
  /** Probability of `class` on the final 8-bit image. */
  probability: number;
  history: DreamStepRecord[];
}

/** The lesson's setting: pixel parameterisation, plain SGD with lr 1 on 10·CE + 0.005·TV, no transforms. */
export const LESSON_DEFAULTS = { param: 'pixel', optimizer: 'sgd', lr: 1, ceWeight: 10, tv: 0.005, jitter: 0, scale: false, rotate: false } as const;

/** graft's default: the lesson's loss and optimiser, made robust by a little jitter. */
export const DREAM_DEFAULTS = { ...LESSON_DEFAULTS, steps: 200, jitter: 4, seed: 0 } as const;

/** Optimises an image so the model sees the target class (or excites a channel); see DreamOptions. */
export async function dream(m: GraftModel, opts: DreamOptions): Promise<DreamResult> {
  const o = { ...DREAM_DEFAULTS, ...opts };
  const pre = m.preprocess;
  const targetClass = o.class === undefined ? undefined : typeof o.class === 'number' ? checkIndex(m, o.class) : findClass(m.labels, o.class);
  const transforms: Transform[] = [];
  if (o.scale) transforms.push(randomScale());
  if (o.rotate) transforms.push(randomRotate());
  if (o.jitter > 0) transforms.push(jitter(o.jitter));
  const margin = totalMargin(transforms);
  const [h, w] = [pre.size[0] + 2 * margin, pre.size[1] + 2 * margin];

  const objective = withTotalVariation(mainObjective(m, o, targetClass), o.tv, pre.layout);
  const problem = await DreamProblem.create(m, objective);
  try {
    const rng = new Rng(o.seed);
    const param = await initialParam(o.param, o.init, m, h, w, rng);
    const optimizer: Optimizer = o.optimizer === 'adam' ? new Adam() : new SGD();
    const history: DreamStepRecord[] = [];
    const finalImage = () => fromTensor(toLayout(crop(param.render(), margin, margin, pre.size[0], pre.size[1]), pre.layout), pre);
    const task = progressOrSilent(o.progress).start('dream', o.steps, 'step');
    for (let step = 1; step <= o.steps; step++) {
      const e = await problem.evaluate(param, drawAll(transforms, rng));
      optimizer.step([param.params], [e.grad], o.lr);
      const probs = softmaxRows(e.logits, 1);
      const shown = targetClass ?? argmax(probs);
      history.push({ step, loss: e.loss, probability: probs[shown] });
      task.update(step, `loss ${e.loss.toFixed(3)} p ${probs[shown].toFixed(3)}`);
      if (o.onFrame && o.frameEvery && (step % o.frameEvery === 0 || step === o.steps)) await o.onFrame(step, finalImage());
    }
    const image = finalImage();
    const probs = softmaxRows((await problem.runTensor(toTensor(image, pre))).logits, 1);
    const cls = targetClass ?? argmax(probs);
    task.finish(`p ${probs[cls].toFixed(3)}`);
    return { image, class: cls, label: m.labels[cls], probability: probs[cls], history };
  } finally {
    await problem.release();
  }
}

function checkIndex(m: GraftModel, i: number): number {
  if (!Number.isInteger(i) || i < 0 || i >= m.labels.length) throw new GraftError('UNKNOWN_CLASS', `class index ${i} is out of range (0–${m.labels.length - 1})`);
  return i;
}

function mainObjective(m: GraftModel, o: DreamOptions & { ceWeight: number }, targetClass: number | undefined) {
  if (o.layer !== undefined || o.channel !== undefined) {
    if (o.layer === undefined || o.channel === undefined) throw new GraftError('BAD_ARGUMENT', 'dream: --layer and --channel go together');
    return channelObjective(m.model.graph, tapTensor(m, o.layer), o.channel);
  }
  if (targetClass === undefined) throw new GraftError('BAD_ARGUMENT', 'dream: give a target --class, or --layer and --channel');
  return classObjective(m, targetClass, o.ceWeight);
}

async function initialParam(kind: 'pixel' | 'fft', init: DreamOptions['init'], m: GraftModel, h: number, w: number, rng: Rng): Promise<ImageParam> {
  if (init === undefined || init === 'noise') return kind === 'fft' ? FourierParam.noise(m.preprocess, h, w, rng) : PixelParam.noise(m.preprocess, h, w, rng);
  const sized = init.width === w && init.height === h ? init : await resizeSmooth(init, w, h);
  const rgb = rgbPlanes(sized);
  return kind === 'fft' ? FourierParam.fromRgb(rgb, m.preprocess) : PixelParam.fromRgb(rgb, m.preprocess);
}
