/** Excite one channel of a layer: minus the spatial mean of channel K of tensor L (NCHW, channel axis 1). */
import { channelMean, weightedSum } from '../../../autodiff/objectives.js';
import { inferShapes } from '../../../onnx/shapes.js';
import type { Graph } from '../../../onnx/types.js';
import { GraftError } from '../../../util/errors.js';
import { oneHot, type DreamObjective } from './objective.js';

export function channelObjective(graph: Graph, tensor: string, channel: number): DreamObjective {
  const channels = inferShapes(graph).get(tensor)?.shape?.[1];
  if (typeof channels !== 'number') throw new GraftError('SHAPE', `layer tensor "${tensor}": its channel count (axis 1) is unknown`);
  if (!Number.isInteger(channel) || channel < 0 || channel >= channels) {
    throw new GraftError('BAD_ARGUMENT', `--channel ${channel} is out of range: "${tensor}" has ${channels} channels`);
  }
  return {
    build: (b) => weightedSum(b, [[channelMean(b, tensor, 'dream_channel'), -1]]),
    feeds: { dream_channel: { dims: [channels], data: oneHot(channels, channel) } },
  };
}
