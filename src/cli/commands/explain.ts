import type { Command } from 'commander';
import { overlayHeatmap, savePng, upsampleBilinear } from '../../image/encode.js';
import { applyColormap, type ColormapRange } from '../../image/colormap.js';
import { loadImageRgbCropped, type Preprocess } from '../../image/preprocess.js';
import { batchDims, toTensor } from '../../image/layout.js';
import type { RgbImage } from '../../image/decode.js';
import { readNpy, writeNpy } from '../../util/npy.js';
import { GraftError } from '../../util/errors.js';
import { EXPLAIN_METHODS, explain, type ExplainMethod } from '../../viz/explain/explain.js';
import { addModelOptions, intOption, modelFromFlags, printJson, type ModelFlags } from '../common.js';

interface ExplainFlags extends ModelFlags {
  class?: string;
  method: string;
  out: string;
  saveGradient?: string;
  inputTensor?: string;
  steps: string;
  baseline: string;
  json?: boolean;
}

/** Pixel-level maps are spiky: clip the top 1 % so the structure stays visible. */
const HEAT_RANGE: ColormapRange = { percentile: 0.01 };

function readInputTensor(file: string, pre: Preprocess): Float32Array {
  const { data, shape } = readNpy(file);
  const want = batchDims(1, pre);
  const same = (a: number[], b: number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
  if (!same(shape, want) && !same(shape, want.slice(1))) {
    throw new GraftError('SHAPE', `${file}: tensor shape [${shape.join(', ')}] does not match the model input [${want.join(', ')}] (${pre.layout})`);
  }
  return data;
}

export function register(program: Command): void {
  addModelOptions(
    program
      .command('explain [image]')
      .description('saliency map of a class on an image: input gradient (Simonyan 2013), Grad-CAM (Selvaraju 2017) or integrated gradients (Sundararajan 2017)'),
  )
    .option('-c, --class <class>', 'class to explain: index or label text (default: the top prediction)')
    .option('--method <method>', EXPLAIN_METHODS.join(' | '), 'gradient')
    .option('-o, --out <file>', 'output PNG: the heat map over the network-size crop (alone with --input-tensor)', 'heat.png')
    .option('--save-gradient <file>', 'write d logit[class] / d input as float32 .npy in the model input layout')
    .option('--input-tensor <file>', 'explain this preprocessed float32 .npy tensor (model input layout) instead of an image')
    .option('--steps <n>', 'integrated-gradients steps', '32')
    .option('--baseline <kind>', 'integrated-gradients baseline: black (image) | zero (tensor)', 'black')
    .option('--json', 'print JSON: {"method", "class", "label", "probability", "out"}')
    .action(async (image: string | undefined, flags: ExplainFlags) => {
      if (!image && !flags.inputTensor) throw new GraftError('BAD_ARGUMENT', 'explain: give an image or --input-tensor');
      if (!(EXPLAIN_METHODS as readonly string[]).includes(flags.method)) throw new GraftError('BAD_ARGUMENT', `--method must be one of ${EXPLAIN_METHODS.join(', ')}`);
      if (flags.baseline !== 'black' && flags.baseline !== 'zero') throw new GraftError('BAD_ARGUMENT', '--baseline must be black or zero');
      const m = await modelFromFlags(flags);
      const pre = m.preprocess;
      let crop: RgbImage | undefined;
      let input: Float32Array;
      if (flags.inputTensor) input = readInputTensor(flags.inputTensor, pre);
      else {
        crop = await loadImageRgbCropped(image!, pre);
        input = toTensor(crop, pre);
      }
      const e = await explain(m, input, {
        class: flags.class,
        method: flags.method as ExplainMethod,
        steps: intOption(flags.steps, '--steps'),
        baseline: flags.baseline,
      });
      const [h, w] = pre.size;
      const picture = crop
        ? overlayHeatmap(crop, e.heat, e.hw, 0.6, 'magma', HEAT_RANGE)
        : applyColormap(upsampleBilinear(e.heat, e.hw[1], e.hw[0], w, h), w, h, 'magma', HEAT_RANGE);
      await savePng(picture, flags.out);
      if (flags.saveGradient) writeNpy(flags.saveGradient, e.gradient, batchDims(1, pre));
      if (flags.json) return printJson({ method: e.method, class: e.class, label: e.label, probability: e.probability, out: flags.out });
      console.log(`${flags.out}: ${e.method} for class ${e.class} "${e.label}" (p = ${e.probability.toFixed(4)})`);
    });
}
