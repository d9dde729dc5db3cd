export * from './types.js';
export * from './graph.js';
export * from './order.js';
export { readModel, writeModel, encodeModel, decodeModel } from './codec.js';
export { inferShapes, type TensorInfo } from './shapes.js';
export { foldConstants } from './fold.js';
