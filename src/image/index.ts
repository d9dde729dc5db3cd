export { decodeImage, openImage, toRgb, DEFAULT_MAX_PIXELS, type RgbImage, type DecodeOptions, type OpenedImage } from './decode.js';
export {
  loadImageRgbCropped,
  imageToTensor,
  inputRegion,
  PREPROCESS_TF,
  PREPROCESS_TORCH,
  PREPROCESS_UNIT,
  type Preprocess,
} from './preprocess.js';
export {
  batchDims,
  toTensor,
  fromTensor,
  cropToPixels,
  pixelsToCrop,
  pixelsToTensor,
  tensorGradToPixels,
  tensorDeltaToPixels,
  rgbPlanes,
  normalisePlanes,
  normalisePlanesAdjoint,
  toLayout,
  fromLayout,
  type Layout,
} from './layout.js';
export { zeroPlanes, crop, uncrop, type Planes } from './planes.js';
export {
  loadBatch,
  batches,
  type BatchOptions,
  type StreamOptions,
  type ImageBatch,
  type ImageFailure,
} from './batch.js';
export {
  DEFAULT_AUGMENT,
  drawAugment,
  randomResizedCropRegion,
  rotationZoom,
  applyFlipAndColour,
  type Augment,
  type AugmentDraw,
  type SeededAugment,
  type Region,
} from './augment.js';
export { applyColormap, colormapLut, colormapRange, type ColormapName, type ColormapRange } from './colormap.js';
export { encodePng, savePng, resizeNearest, resizeSmooth, upsampleBilinear, overlayHeatmap } from './encode.js';
export { renderGrid, escapeXml, type GridTile, type GridOptions } from './grid.js';
export { readNpy, writeNpy } from '../util/npy.js';
