/** EfficientNet-B0 as torchvision defines it: MBConv blocks with squeeze-excitation and SiLU. */
import type { BuildOptions, BuiltModel } from './assemble.js';
import { finishModel, startModel } from './assemble.js';
import type { Layers } from './layers.js';
import { makeDivisible } from './layers.js';

/** Expansion ratio, kernel, first stride, input channels, output channels, layers (B0: width and depth 1.0). */
const STAGES: [number, number, number, number, number, number][] = [
  [1, 3, 1, 32, 16, 1],
  [6, 3, 2, 16, 24, 2],
  [6, 5, 2, 24, 40, 2],
  [6, 3, 2, 40, 80, 3],
  [6, 5, 1, 80, 112, 3],
  [6, 5, 2, 112, 192, 4],
  [6, 3, 1, 192, 320, 1],
];

/** EfficientNet-B0: 5,288,548 parameters. Stochastic depth and dropout are identities at inference. */
export function efficientnetB0(opts: BuildOptions = {}): BuiltModel {
  const d = startModel('efficientnet_b0', opts);
  const L = d.layers;
  let x = convBnSilu(L, d.input, 'features.0', 3, STAGES[0][3], 3, 2, 1);
  STAGES.forEach(([expand, kernel, stride, firstIn, out, layers], s) => {
    const stage = `features.${s + 1}`;
    for (let i = 0; i < layers; i++) x = mbConv(L, x, `${stage}.${i}`, i === 0 ? firstIn : out, out, expand, kernel, i === 0 ? stride : 1);
    L.tap(stage, x);
  });
  const lastIn = STAGES[STAGES.length - 1][4];
  const lastOut = 4 * lastIn;
  const lastConv = L.tap('features', convBnSilu(L, x, `features.${STAGES.length + 1}`, lastIn, lastOut, 1, 1, 1));
  const features = L.flatten(L.globalAvgPool(lastConv, 'avgpool'), 'flatten');
  L.tap('classifier.0', features); // Dropout: identity at inference
  // torchvision EfficientNet init: linear weights U(±1/√out_features), biases zero.
  const init = { kind: 'uniform', bound: 1 / Math.sqrt(d.classes) } as const;
  const logits = L.linear(features, { name: 'classifier.1', inFeatures: lastOut, outFeatures: d.classes, init, output: 'logits' });
  L.tap('classifier', logits);
  return finishModel(d, logits, features, lastConv);
}

/** Conv2dNormActivation(…, activation_layer=SiLU) at `name`: `name.0` conv, `name.1` BN, `name.2` SiLU. */
function convBnSilu(L: Layers, x: string, name: string, inChannels: number, outChannels: number, kernel: number, stride: number, groups: number): string {
  let y = L.conv(x, { name: `${name}.0`, inChannels, outChannels, kernel, stride, groups });
  y = L.batchNorm(y, `${name}.1`, outChannels);
  return L.tap(name, L.silu(y, `${name}.2`));
}

/** MBConv at `name`: [expand 1×1] → depthwise k×k → SE (squeeze = in/4) → project 1×1 + BN, residual when shapes match. */
function mbConv(L: Layers, x: string, name: string, inChannels: number, outChannels: number, expandRatio: number, kernel: number, stride: number): string {
  const expanded = makeDivisible(inChannels * expandRatio);
  let k = 0;
  let y = x;
  if (expanded !== inChannels) y = convBnSilu(L, y, `${name}.block.${k++}`, inChannels, expanded, 1, 1, 1);
  y = convBnSilu(L, y, `${name}.block.${k++}`, expanded, expanded, kernel, stride, expanded);
  y = L.squeezeExcitation(y, `${name}.block.${k++}`, expanded, Math.max(1, Math.floor(inChannels / 4)), 'silu');
  const projection = `${name}.block.${k}`;
  y = L.conv(y, { name: `${projection}.0`, inChannels: expanded, outChannels, kernel: 1 });
  y = L.tap(projection, L.batchNorm(y, `${projection}.1`, outChannels));
  L.tap(`${name}.block`, y);
  if (stride !== 1 || inChannels !== outChannels) return L.tap(name, y);
  L.tap(`${name}.stochastic_depth`, y); // identity at inference
  return L.tap(name, L.add(y, x, `${name}.add`));
}
