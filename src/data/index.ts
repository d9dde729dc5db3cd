export {
  openDataset, stratifiedSplit, datasetStats, formatStats, sampleForDisplay, deleteCorrupt,
  SPLITS, DEFAULT_VAL_FRACTION, DEFAULT_SPLIT_SEED,
} from './dataset.js';
export type { Sample, Dataset, DatasetLayout, Split, Target, OpenDatasetOptions, DatasetStats } from './dataset.js';
export { extractArchive, archiveKind } from './archive.js';
export type { ArchiveKind } from './archive.js';
export { DATASET_SOURCES, fetchDataset } from './fetch.js';
export type { DatasetSource, DatasetFile, FetchDatasetOptions } from './fetch.js';
export { expandImagePaths, IMAGE_EXTENSIONS } from './image-files.js';
