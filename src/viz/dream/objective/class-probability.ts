/** Make the network see class C: weight · cross-entropy of the logits against C (the lesson's objective). */
import { crossEntropy, weightedSum } from '../../../autodiff/objectives.js';
import type { GraftModel } from '../../../models/load.js';
import { logitsTensor } from '../../../models/logits.js';
import { oneHot, type DreamObjective } from './objective.js';

export function classObjective(m: GraftModel, classIndex: number, weight = 1): DreamObjective {
  const classes = m.labels.length;
  return {
    build: (b, _input, ctx) => weightedSum(b, [[crossEntropy(b, logitsTensor(m, b, ctx.shapes()), 'dream_target'), weight]]),
    feeds: { dream_target: { dims: [1, classes], data: oneHot(classes, classIndex) } },
  };
}
