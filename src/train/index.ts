export * from './loss.js';
export * from './heads.js';
export * from './optim.js';
export * from './schedule.js';
export * from './metrics.js';
export * from './fit.js';
