export { explain, EXPLAIN_METHODS, type ExplainMethod, type ExplainOptions, type Explanation } from './explain.js';
export { saliency, type Saliency } from './gradient.js';
export { gradCam, type GradCam } from './gradcam.js';
export { integratedGradients, baselineTensor, type IntegratedGradients, type IntegratedGradientsOptions } from './integrated-gradients.js';
export { LogitGradient, type LogitGradientResult } from './logit-gradient.js';
export { addProbe, type Probe } from './probe.js';
export { reduceChannels, type ChannelReduce } from './heat.js';
export { logitsTensor } from '../../models/logits.js';
