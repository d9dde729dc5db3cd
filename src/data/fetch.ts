import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { GraftError } from '../util/errors.js';
import { ensureFile } from '../util/download.js';
import { sha256File } from '../util/fsutil.js';
import type { ProgressSink } from '../util/progress.js';
import { extractArchive } from './archive.js';

export interface DatasetFile {
  url: string;
  /** Name of the downloaded archive; also what a mirror serves and what users may place by hand. */
  fileName: string;
  /** Only where known for sure; otherwise the computed hash is logged. */
  sha256?: string;
}

export interface DatasetSource {
  name: string;
  description: string;
  homepage: string;
  license: string;
  files: DatasetFile[];
  /** Folder, relative to the extraction directory, that openDataset should open ('.' for the extraction directory). */
  root: string;
}

export const DATASET_SOURCES: Record<string, DatasetSource> = {
  'oxford-iiit-pet': {
    name: 'oxford-iiit-pet',
    description: 'Oxford-IIIT Pet: 7,349 images of 37 cat and dog breeds with the official trainval/test split',
    homepage: 'https://www.robots.ox.ac.uk/~vgg/data/pets/',
    license: 'CC BY-SA 4.0',
    // sha256 as recorded by TensorFlow Datasets (url_checksums/oxford_iiit_pet.txt) for these two files.
    files: [
      {
        url: 'https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz',
        fileName: 'images.tar.gz',
        sha256: '67195c5e1c01f1ab5f9b6a5d22b8c27a580d896ece458917e61d459337fa318d',
      },
      {
        url: 'https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz',
        fileName: 'annotations.tar.gz',
        sha256: '52425fb6de5c424942b7626b428656fcbd798db970a937df61750c0f1d358e91',
      },
    ],
    root: '.',
  },
  'cats-and-dogs-filtered': {
    name: 'cats-and-dogs-filtered',
    description: "Google's filtered Dogs vs. Cats: train 1000+1000, validation 500+500 (TensorFlow transfer-learning tutorial)",
    homepage: 'https://www.tensorflow.org/tutorials/images/transfer_learning',
    license: 'Asirra / Kaggle Dogs vs. Cats terms',
    files: [{ url: 'https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip', fileName: 'cats_and_dogs_filtered.zip', sha256: undefined }],
    root: 'cats_and_dogs_filtered',
  },
  'kaggle-cats-dogs': {
    name: 'kaggle-cats-dogs',
    description: "Microsoft's Kaggle Cats and Dogs (PetImages/Cat, PetImages/Dog; ~25,000 images, some empty or corrupt)",
    homepage: 'https://www.microsoft.com/en-us/download/details.aspx?id=54765',
    license: 'CDLA-Permissive-2.0',
    files: [{
      url: 'https://download.microsoft.com/download/3/E/1/3E1C3F21-ECDB-4869-8368-6DEBA77B919F/kagglecatsanddogs_5340.zip',
      fileName: 'kagglecatsanddogs_5340.zip',
      sha256: undefined,
    }],
    root: 'PetImages',
  },
};

export interface FetchDatasetOptions {
  progress?: ProgressSink;
  /** Base URL serving the archives by file name, instead of the official URLs; defaults to $GRAFT_DATASET_MIRROR. */
  mirror?: string;
  log?: (line: string) => void;
}

/**
 * Downloads (once) and safely extracts a dataset into dir/<name>/, returning the folder to pass to openDataset.
 * Archives are kept in dir/.downloads/ (or taken from dir/ when the user placed them there).
 */
export async function fetchDataset(dataset: string | DatasetSource, dir: string, options: FetchDatasetOptions = {}): Promise<string> {
  const source = typeof dataset === 'string' ? DATASET_SOURCES[dataset] : dataset;
  if (!source) {
    throw new GraftError('BAD_ARGUMENT', `Unknown dataset "${String(dataset)}"; known: ${Object.keys(DATASET_SOURCES).join(', ')}`);
  }
  const log = options.log ?? (() => undefined);
  const target = path.join(path.resolve(dir), source.name);
  const root = path.join(target, source.root);
  if (fs.existsSync(target)) {
    log(`${source.name}: using existing ${target}`);
    return checkRoot(source, root);
  }

  const mirror = (options.mirror ?? process.env.GRAFT_DATASET_MIRROR)?.replace(/\/+$/, '');
  const downloads = path.join(path.resolve(dir), '.downloads');
  const archives: string[] = [];
  for (const file of source.files) {
    const url = mirror ? `${mirror}/${file.fileName}` : file.url;
    const searchDirs = [path.resolve(dir)];
    const placed = [...searchDirs, downloads].some((d) => fs.existsSync(path.join(d, file.fileName)));
    const archive = await ensureFile({
      url, sha256: file.sha256, fileName: file.fileName, searchDirs, cacheDir: downloads,
      progress: options.progress, label: `download ${file.fileName}`, log,
    });
    if (placed) await verifyExisting(archive, file);
    archives.push(archive);
  }

  const staging = `${target}.partial-${crypto.randomBytes(4).toString('hex')}`;
  try {
    for (const archive of archives) await extractArchive(archive, staging, { progress: options.progress });
    await fs.promises.rename(staging, target);
  } catch (err) {
    await fs.promises.rm(staging, { recursive: true, force: true });
    throw err;
  }
  log(`${source.name}: extracted to ${target} (archives kept in ${path.dirname(archives[0])})`);
  return checkRoot(source, root);
}

/** An archive found on disk (not downloaded just now) is checked too when its checksum is known. */
async function verifyExisting(archive: string, file: DatasetFile): Promise<void> {
  if (!file.sha256) return;
  const actual = await sha256File(archive);
  if (actual !== file.sha256) {
    throw new GraftError('CHECKSUM',
      `Checksum mismatch for ${archive} (${file.url}): expected sha256 ${file.sha256}, got ${actual}. Delete it and fetch again.`);
  }
}

function checkRoot(source: DatasetSource, root: string): string {
  if (!fs.existsSync(root)) {
    throw new GraftError('DATASET', `Dataset ${source.name}: expected folder ${root} is missing; the archive layout may have changed.`);
  }
  return root;
}
