export * from './loss.js';
export * from './heads.js';
export * from '../optim/optim.js';
export * from '../optim/schedule.js';
export * from './metrics.js';
export * from './fit.js';
