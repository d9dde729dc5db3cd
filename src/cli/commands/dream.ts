import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { savePng } from '../../image/encode.js';
import { loadImageRgbCropped } from '../../image/preprocess.js';
import { DREAM_DEFAULTS, dream } from '../../viz/dream/dream.js';
import { addModelOptions, intOption, modelFromFlags, numberOption, printJson, type ModelFlags } from '../common.js';
import { terminalProgress } from '../progress.js';

interface DreamFlags extends ModelFlags {
  class?: string;
  layer?: string;
  channel?: string;
  steps: string;
  lr: string;
  tv: string;
  ceWeight: string;
  optimizer: string;
  init: string;
  jitter: string;
  scale?: boolean;
  rotate?: boolean;
  param: string;
  out: string;
  frames?: string;
  frameEvery?: string;
  json?: boolean;
}

function choice<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw new Error(`${flag} must be one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

export function register(program: Command): void {
  addModelOptions(
    program
      .command('dream')
      .description(
        'the "ideal image" of a class (or of one channel of a layer): gradient steps on the input from noise.\n' +
          'The lesson\'s exact setting: graft dream --class "tabby cat" --jitter 0 (pixel parameterisation, SGD lr 1, loss 10·CE + 0.005·TV).\n' +
          'Lucid style: --param fft --optimizer adam --lr 0.05 --jitter 8 --scale --rotate --tv 0 --ce-weight 1',
      ),
  )
    .option('-c, --class <class>', 'target class: index or label text, e.g. "tabby cat"')
    .option('--layer <layer>', 'maximise the mean of a channel of this layer / tap / tensor instead (with --channel)')
    .option('--channel <k>', 'channel index for --layer')
    .option('--steps <n>', 'optimisation steps', String(DREAM_DEFAULTS.steps))
    .option('--lr <x>', 'learning rate', String(DREAM_DEFAULTS.lr))
    .option('--tv <w>', 'weight of the total-variation term (sum of absolute neighbour differences of the input tensor)', String(DREAM_DEFAULTS.tv))
    .option('--ce-weight <w>', 'weight of the cross-entropy term', String(DREAM_DEFAULTS.ceWeight))
    .option('--optimizer <name>', 'sgd | adam', DREAM_DEFAULTS.optimizer)
    .option('--init <noise|image>', 'start from uniform noise or from an image file', 'noise')
    .option('--jitter <px>', 'random translation of up to this many pixels each step (0: off)', String(DREAM_DEFAULTS.jitter))
    .option('--scale', 'random zoom 0.9–1.1 each step')
    .option('--rotate', 'random rotation −10°…10° each step')
    .option('--param <kind>', 'pixel (the input tensor itself) | fft (decorrelated Fourier spectrum, sigmoid range)', DREAM_DEFAULTS.param)
    .option('-o, --out <file>', 'output PNG', 'ideal.png')
    .option('--frames <dir>', 'also save the optimisation as numbered PNGs in this folder')
    .option('--frame-every <k>', 'save a frame every k steps (default: steps/50)')
    .option('--json', 'print JSON: {"class", "label", "probability", "steps"} (probability on the saved 8-bit PNG)')
    .action(async (flags: DreamFlags) => {
      const m = await modelFromFlags(flags);
      const steps = intOption(flags.steps, '--steps');
      const init = flags.init === 'noise' ? 'noise' : await loadImageRgbCropped(flags.init, m.preprocess);
      if (flags.frames) fs.mkdirSync(flags.frames, { recursive: true });
      const frameEvery = flags.frameEvery ? intOption(flags.frameEvery, '--frame-every') : Math.max(1, Math.round(steps / 50));
      const digits = String(steps).length;
      const framesDir = flags.frames;
      const result = await dream(m, {
        class: flags.class,
        layer: flags.layer,
        channel: flags.channel === undefined ? undefined : intOption(flags.channel, '--channel'),
        steps,
        lr: numberOption(flags.lr, '--lr'),
        tv: numberOption(flags.tv, '--tv'),
        ceWeight: numberOption(flags.ceWeight, '--ce-weight'),
        optimizer: choice(flags.optimizer, ['sgd', 'adam'] as const, '--optimizer'),
        param: choice(flags.param, ['pixel', 'fft'] as const, '--param'),
        init,
        jitter: intOption(flags.jitter, '--jitter'),
        scale: flags.scale ?? false,
        rotate: flags.rotate ?? false,
        // --seed (shared with --random-weights) seeds the noise and the random transforms.
        seed: intOption(flags.seed ?? String(DREAM_DEFAULTS.seed), '--seed'),
        frameEvery: framesDir ? frameEvery : undefined,
        onFrame: framesDir ? (step, image) => savePng(image, path.join(framesDir, `frame_${String(step).padStart(digits, '0')}.png`)) : undefined,
        progress: terminalProgress(),
      });
      await savePng(result.image, flags.out);
      if (flags.json) return printJson({ class: result.class, label: result.label, probability: result.probability, steps });
      console.log(`${flags.out}: class ${result.class} "${result.label}", p = ${result.probability.toFixed(4)} after ${steps} steps`);
    });
}
