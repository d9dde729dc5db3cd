export * from './loss.js';
export * from './heads.js';
export * from '../optim/optim.js';
export * from '../optim/schedule.js';
// Metrics moved to report/ (shared with prediction); kept here so `train.accuracy` & co. still work.
export { argmaxRows, accuracy, topKAccuracy, confusionMatrix, classMetrics, mostConfused, formatClassificationReport, type ClassMetrics } from '../report/metrics.js';
export * from './fit.js';
