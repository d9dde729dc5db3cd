/** VGG-16 and VGG-19 (configurations D and E, no batch norm) as torchvision defines them. */
import type { BuildOptions, BuiltModel } from './assemble.js';
import { finishModel, startModel } from './assemble.js';

type VggConfig = (number | 'M')[];

const CONFIGS = {
  vgg16: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'],
  vgg19: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M'],
} satisfies Record<string, VggConfig>;

/** VGG-16: 138,357,544 parameters. */
export function vgg16(opts: BuildOptions = {}): BuiltModel {
  return vgg('vgg16', CONFIGS.vgg16, opts);
}

/** VGG-19: 143,667,240 parameters. */
export function vgg19(opts: BuildOptions = {}): BuiltModel {
  return vgg('vgg19', CONFIGS.vgg19, opts);
}

function vgg(architecture: string, config: VggConfig, opts: BuildOptions): BuiltModel {
  const d = startModel(architecture, opts);
  const L = d.layers;
  // torchvision VGG._initialize_weights: convs Kaiming-normal (fan_out), linears N(0, 0.01), biases zero.
  const linearInit = { kind: 'normal', std: 0.01 } as const;
  let x = d.input;
  let channels = 3;
  let size = d.inputSize;
  let lastConv = '';
  let index = 0;
  for (const v of config) {
    if (v === 'M') {
      x = L.maxPool(x, `features.${index++}`, 2, 2);
      size = Math.floor(size / 2);
    } else {
      x = L.conv(x, { name: `features.${index++}`, inChannels: channels, outChannels: v, kernel: 3, padding: 1, bias: true });
      x = lastConv = L.relu(x, `features.${index++}`);
      channels = v;
    }
  }
  L.tap('features', x);
  x = L.adaptiveAvgPool(x, 'avgpool', size, 7);
  const features = L.flatten(x, 'flatten');
  x = L.linear(features, { name: 'classifier.0', inFeatures: channels * 7 * 7, outFeatures: 4096, init: linearInit });
  x = L.relu(x, 'classifier.1');
  L.tap('classifier.2', x); // Dropout: identity at inference
  x = L.linear(x, { name: 'classifier.3', inFeatures: 4096, outFeatures: 4096, init: linearInit });
  x = L.relu(x, 'classifier.4');
  L.tap('classifier.5', x);
  const logits = L.linear(x, { name: 'classifier.6', inFeatures: 4096, outFeatures: d.classes, init: linearInit, output: 'logits' });
  L.tap('classifier', logits);
  return finishModel(d, logits, features, lastConv);
}
