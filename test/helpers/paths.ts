import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const sharedDir = process.env.GRAFT_SHARED ?? path.resolve(repoRoot, '..', 'shared');
export const sharedModels = path.join(sharedDir, 'models');
export const sharedDatasets = path.join(sharedDir, 'datasets');
export const catsDogs = path.join(sharedDatasets, 'cats_and_dogs_filtered');
export const oxfordPets = path.join(sharedDatasets, 'oxford-iiit-pet');
