/** The architecture registry: torchvision-exact graphs with seeded random weights, by name. */
import type { ArchitectureBuilder, BuildOptions, BuiltModel } from './assemble.js';
import { efficientnetB0 } from './efficientnet.js';
import { mobilenetV2 } from './mobilenetv2.js';
import { resnet18, resnet50 } from './resnet.js';
import { scratchCnn } from './scratch.js';
import { vgg16, vgg19 } from './vgg.js';
import { GraftError } from '../../util/errors.js';

export type { ArchitectureBuilder, BuildOptions, BuiltModel } from './assemble.js';
export type { MobileNetV2Options } from './mobilenetv2.js';
export type { ScratchCnnOptions } from './scratch.js';
export { efficientnetB0, mobilenetV2, resnet18, resnet50, scratchCnn, vgg16, vgg19 };

export type ArchitectureName = 'vgg16' | 'vgg19' | 'resnet18' | 'resnet50' | 'mobilenet_v2' | 'efficientnet_b0' | 'scratch_cnn';

export const ARCHITECTURES: Record<ArchitectureName, ArchitectureBuilder> = {
  vgg16,
  vgg19,
  resnet18,
  resnet50,
  mobilenet_v2: mobilenetV2,
  efficientnet_b0: efficientnetB0,
  scratch_cnn: scratchCnn,
};

/** Builds a named architecture; an unknown name is a BAD_ARGUMENT GraftError listing the known ones. */
export function buildArchitecture(name: string, opts: BuildOptions = {}): BuiltModel {
  if (!Object.hasOwn(ARCHITECTURES, name)) {
    throw new GraftError('BAD_ARGUMENT', `unknown architecture "${name}"; known: ${Object.keys(ARCHITECTURES).join(', ')}`);
  }
  return ARCHITECTURES[name as ArchitectureName](opts);
}
