/** MobileNetV2 as torchvision defines it: inverted residuals with ReLU6, width multiplier with `_make_divisible`. */
import type { BuildOptions, BuiltModel } from './assemble.js';
import { finishModel, startModel } from './assemble.js';
import type { Layers } from './layers.js';
import { makeDivisible } from './layers.js';
import { GraftError } from '../../util/errors.js';

export interface MobileNetV2Options extends BuildOptions {
  /** Channel width multiplier; default 1.0. */
  widthMult?: number;
}

/** Expansion t, output channels c, repeats n, first stride s. */
const SETTINGS: [number, number, number, number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** MobileNetV2 (width 1.0: 3,504,872 parameters). */
export function mobilenetV2(opts: MobileNetV2Options = {}): BuiltModel {
  const widthMult = opts.widthMult ?? 1;
  if (!(widthMult > 0)) throw new GraftError('BAD_ARGUMENT', `building mobilenet_v2: widthMult must be positive, got ${widthMult}`);
  const d = startModel(widthMult === 1 ? 'mobilenet_v2' : `mobilenet_v2_${widthMult}`, opts);
  const L = d.layers;
  let channels = makeDivisible(32 * widthMult);
  const lastChannels = makeDivisible(1280 * Math.max(1, widthMult));
  let x = convBnRelu6(L, d.input, 'features.0', 3, channels, 3, 2, 1);
  let index = 1;
  for (const [t, c, n, s] of SETTINGS) {
    const out = makeDivisible(c * widthMult);
    for (let i = 0; i < n; i++) {
      x = invertedResidual(L, x, `features.${index++}`, channels, out, i === 0 ? s : 1, t);
      channels = out;
    }
  }
  x = convBnRelu6(L, x, `features.${index}`, channels, lastChannels, 1, 1, 1);
  const lastConv = L.tap('features', x);
  // torchvision calls functional adaptive_avg_pool2d here (no module), so the tensor takes torch.fx's name.
  x = L.tap('avgpool', L.globalAvgPool(x, 'adaptive_avg_pool2d'));
  const features = L.flatten(x, 'flatten');
  L.tap('classifier.0', features); // Dropout: identity at inference
  const logits = L.linear(features, { name: 'classifier.1', inFeatures: lastChannels, outFeatures: d.classes, init: { kind: 'normal', std: 0.01 }, output: 'logits' });
  L.tap('classifier', logits);
  return finishModel(d, logits, features, lastConv);
}

/** Conv2dNormActivation(…, activation_layer=ReLU6) at `name`: `name.0` conv, `name.1` BN, `name.2` ReLU6. */
function convBnRelu6(L: Layers, x: string, name: string, inChannels: number, outChannels: number, kernel: number, stride: number, groups: number): string {
  let y = L.conv(x, { name: `${name}.0`, inChannels, outChannels, kernel, stride, groups });
  y = L.batchNorm(y, `${name}.1`, outChannels);
  return L.tap(name, L.relu6(y, `${name}.2`));
}

function invertedResidual(L: Layers, x: string, name: string, inp: number, oup: number, stride: number, expandRatio: number): string {
  const hidden = Math.round(inp * expandRatio);
  let k = 0;
  let y = x;
  if (expandRatio !== 1) y = convBnRelu6(L, y, `${name}.conv.${k++}`, inp, hidden, 1, 1, 1);
  y = convBnRelu6(L, y, `${name}.conv.${k++}`, hidden, hidden, 3, stride, hidden);
  y = L.conv(y, { name: `${name}.conv.${k++}`, inChannels: hidden, outChannels: oup, kernel: 1 });
  y = L.batchNorm(y, `${name}.conv.${k}`, oup);
  L.tap(`${name}.conv`, y);
  return L.tap(name, stride === 1 && inp === oup ? L.add(x, y, `${name}.add`) : y);
}
