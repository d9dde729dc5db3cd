/**
 * ResNet-18 (BasicBlock) and ResNet-50 (Bottleneck, stride on the 3×3 conv: "v1.5") as torchvision defines them.
 * Tensors carry torch.fx-style names: a module called twice (the block's `relu`) yields `relu`, `relu_1`, ….
 */
import type { BuildOptions, BuiltModel } from './assemble.js';
import { finishModel, startModel } from './assemble.js';
import type { Layers } from './layers.js';

type BlockKind = 'basic' | 'bottleneck';

const EXPANSION: Record<BlockKind, number> = { basic: 1, bottleneck: 4 };

/** ResNet-18: 11,689,512 parameters. */
export function resnet18(opts: BuildOptions = {}): BuiltModel {
  return resnet('resnet18', 'basic', [2, 2, 2, 2], opts);
}

/** ResNet-50: 25,557,032 parameters. */
export function resnet50(opts: BuildOptions = {}): BuiltModel {
  return resnet('resnet50', 'bottleneck', [3, 4, 6, 3], opts);
}

function resnet(architecture: string, kind: BlockKind, blocks: number[], opts: BuildOptions): BuiltModel {
  const d = startModel(architecture, opts);
  const L = d.layers;
  let x = L.conv(d.input, { name: 'conv1', inChannels: 3, outChannels: 64, kernel: 7, stride: 2, padding: 3 });
  x = L.batchNorm(x, 'bn1', 64);
  x = L.relu(x, 'relu');
  x = L.maxPool(x, 'maxpool', 3, 2, 1);
  let inplanes = 64;
  blocks.forEach((count, stage) => {
    const planes = 64 << stage;
    for (let b = 0; b < count; b++) {
      const name = `layer${stage + 1}.${b}`;
      const stride = b === 0 && stage > 0 ? 2 : 1;
      x = L.tap(name, kind === 'basic' ? basicBlock(L, x, name, inplanes, planes, stride) : bottleneck(L, x, name, inplanes, planes, stride));
      inplanes = planes * EXPANSION[kind];
    }
    L.tap(`layer${stage + 1}`, x);
  });
  const lastConv = x;
  x = L.globalAvgPool(x, 'avgpool');
  const features = L.flatten(x, 'flatten');
  // ResNet's init loop leaves nn.Linear at PyTorch's default initialisation.
  const logits = L.linear(features, { name: 'fc', inFeatures: inplanes, outFeatures: d.classes, init: { kind: 'torchDefault' }, output: 'logits' });
  return finishModel(d, logits, features, lastConv);
}

/** The identity branch: x itself, or `downsample` (1×1 conv with the block's stride + BN) when the shape changes. */
function shortcut(L: Layers, x: string, name: string, inplanes: number, outChannels: number, stride: number): string {
  if (stride === 1 && inplanes === outChannels) return x;
  const y = L.conv(x, { name: `${name}.downsample.0`, inChannels: inplanes, outChannels, kernel: 1, stride, padding: 0 });
  return L.tap(`${name}.downsample`, L.batchNorm(y, `${name}.downsample.1`, outChannels));
}

function basicBlock(L: Layers, x: string, name: string, inplanes: number, planes: number, stride: number): string {
  let y = L.conv(x, { name: `${name}.conv1`, inChannels: inplanes, outChannels: planes, kernel: 3, stride });
  y = L.batchNorm(y, `${name}.bn1`, planes);
  y = L.relu(y, `${name}.relu`);
  y = L.conv(y, { name: `${name}.conv2`, inChannels: planes, outChannels: planes, kernel: 3 });
  y = L.batchNorm(y, `${name}.bn2`, planes);
  y = L.add(y, shortcut(L, x, name, inplanes, planes, stride), `${name}.add`);
  return L.relu(y, `${name}.relu_1`);
}

function bottleneck(L: Layers, x: string, name: string, inplanes: number, planes: number, stride: number): string {
  const out = planes * EXPANSION.bottleneck;
  let y = L.conv(x, { name: `${name}.conv1`, inChannels: inplanes, outChannels: planes, kernel: 1, padding: 0 });
  y = L.batchNorm(y, `${name}.bn1`, planes);
  y = L.relu(y, `${name}.relu`);
  y = L.conv(y, { name: `${name}.conv2`, inChannels: planes, outChannels: planes, kernel: 3, stride });
  y = L.batchNorm(y, `${name}.bn2`, planes);
  y = L.relu(y, `${name}.relu_1`);
  y = L.conv(y, { name: `${name}.conv3`, inChannels: planes, outChannels: out, kernel: 1, padding: 0 });
  y = L.batchNorm(y, `${name}.bn3`, out);
  y = L.add(y, shortcut(L, x, name, inplanes, out, stride), `${name}.add`);
  return L.relu(y, `${name}.relu_2`);
}
