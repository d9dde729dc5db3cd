/** Adversarial attacks on graft models, with ε and step sizes in 0–255 pixel units of the model's input crop. */
export * from './common.js';
export * from './iterative.js';
export * from './classmap.js';
export * from './methods.js';
export * from './image.js';
export * from './robustness.js';
export { pgd, pgdStep, randomInBall, PGD_DEFAULTS, type PgdOptions } from './pgd.js';
export { fgsm, fgsmStep, FGSM_DEFAULTS, type FgsmOptions } from './fgsm.js';
export { descent, DESCENT_DEFAULTS, type DescentOptions } from './descent.js';
