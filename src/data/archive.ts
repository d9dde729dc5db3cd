import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import yauzl from 'yauzl';
import { GraftError, errorMessage } from '../util/errors.js';
import { progressOrSilent, type ProgressSink } from '../util/progress.js';

export type ArchiveKind = 'tar' | 'tar.gz' | 'zip';

/** Archive kind from the file name (.tar, .tar.gz/.tgz, .zip), or undefined. */
export function archiveKind(file: string): ArchiveKind | undefined {
  const name = file.toLowerCase();
  if (name.endsWith('.tar.gz') || name.endsWith('.tgz')) return 'tar.gz';
  if (name.endsWith('.tar')) return 'tar';
  if (name.endsWith('.zip')) return 'zip';
  return undefined;
}

type EntryType = 'file' | 'directory' | 'symlink' | 'hardlink';

interface ArchiveEntry {
  name: string;
  type: EntryType;
  /** Symlink target (relative to the link's folder) or hardlink target (relative to the archive root). */
  linkTarget?: string;
}

/**
 * Extracts a .tar, .tar.gz/.tgz or .zip into destDir. Every entry is checked before anything is written:
 * absolute paths, `..` components, paths through a symlink of the archive, links pointing outside destDir and
 * special files are refused with a GraftError naming the entry. destDir should be a new or empty directory.
 */
export async function extractArchive(file: string, destDir: string, options: { progress?: ProgressSink } = {}): Promise<void> {
  const kind = archiveKind(file);
  if (!kind) throw new GraftError('BAD_ARGUMENT', `Cannot extract ${file}: unknown archive type (expected .tar, .tar.gz, .tgz or .zip)`);
  if (!fs.existsSync(file)) throw new GraftError('FILE_NOT_FOUND', `Archive not found: ${file}`);
  await fs.promises.mkdir(destDir, { recursive: true });
  if (kind === 'zip') await extractZip(file, destDir, options.progress);
  else await extractTar(file, destDir, options.progress);
}

/** Throws a GraftError for the first entry that could write or point outside the extraction directory. */
function checkEntries(archive: string, entries: ArchiveEntry[]): void {
  const symlinks = new Set(entries.filter((e) => e.type === 'symlink').map((e) => normalizeName(e.name)));
  const refuse = (entry: ArchiveEntry, why: string): never => {
    throw new GraftError('DATASET', `Refusing to extract ${archive}: entry "${entry.name}" ${why}`);
  };
  for (const entry of entries) {
    const parts = entryParts(entry.name);
    if (isAbsolute(entry.name)) refuse(entry, 'has an absolute path');
    if (parts.includes('..')) refuse(entry, "contains '..' and would land outside the target directory");
    for (let i = 1; i < parts.length; i++) {
      if (symlinks.has(parts.slice(0, i).join('/'))) refuse(entry, `lies inside the symbolic link "${parts.slice(0, i).join('/')}"`);
    }
    if (entry.type === 'symlink' || entry.type === 'hardlink') {
      const target = entry.linkTarget ?? '';
      if (target === '' || isAbsolute(target)) refuse(entry, `links to the absolute or empty path "${target}"`);
      const start = entry.type === 'symlink' ? parts.slice(0, -1) : [];
      const escape = walkLink(start, entryParts(target), symlinks, entry.type === 'hardlink');
      if (escape) refuse(entry, `links to "${target}", which ${escape}`);
    }
  }
}

/** Follows a link target lexically from `start`; returns why it is unsafe, or undefined when it stays inside. */
function walkLink(start: string[], target: string[], symlinks: Set<string>, forbidDotDot: boolean): string | undefined {
  const cur = [...start];
  for (let i = 0; i < target.length; i++) {
    const part = target[i];
    if (part === '..') {
      if (forbidDotDot) return "contains '..'";
      if (cur.length === 0) return 'points outside the target directory';
      cur.pop();
      continue;
    }
    cur.push(part);
    // Passing through another link would make the lexical check meaningless; ending on one is a plain chain.
    if (i < target.length - 1 && symlinks.has(cur.join('/'))) return `passes through the symbolic link "${cur.join('/')}"`;
  }
  return undefined;
}

function isAbsolute(name: string): boolean {
  return name.startsWith('/') || name.startsWith('\\') || /^[a-zA-Z]:/.test(name);
}

function entryParts(name: string): string[] {
  return name.replace(/\\/g, '/').split('/').filter((p) => p !== '' && p !== '.');
}

function normalizeName(name: string): string {
  return entryParts(name).join('/');
}

const TAR_TYPES: Record<string, EntryType> = {
  File: 'file', OldFile: 'file', ContiguousFile: 'file',
  Directory: 'directory', GNUDumpDir: 'directory',
  SymbolicLink: 'symlink', Link: 'hardlink',
};

async function extractTar(file: string, destDir: string, progress?: ProgressSink): Promise<void> {
  const entries: ArchiveEntry[] = [];
  const unsupported: string[] = [];
  try {
    await tar.t({
      file,
      strict: true,
      onReadEntry: (entry) => {
        const type = TAR_TYPES[entry.type];
        if (type) entries.push({ name: entry.path, type, linkTarget: entry.linkpath });
        else unsupported.push(`${entry.path} (${entry.type})`);
      },
    });
  } catch (err) {
    throw new GraftError('DATASET', `Cannot read archive ${file}: ${errorMessage(err)}`, { cause: err });
  }
  if (unsupported.length > 0) {
    throw new GraftError('DATASET', `Refusing to extract ${file}: entry "${unsupported[0]}" is a special file`);
  }
  checkEntries(file, entries);

  const size = (await fs.promises.stat(file)).size;
  const task = progressOrSilent(progress).start(`extract ${path.basename(file)}`, size, 'B');
  let read = 0;
  const source = fs.createReadStream(file);
  source.on('data', (chunk) => task.update((read += chunk.length)));
  try {
    await pipeline(source, tar.x({ cwd: destDir, strict: true }));
  } catch (err) {
    throw new GraftError('DATASET', `Could not extract ${file} into ${destDir}: ${errorMessage(err)}`, { cause: err });
  } finally {
    task.finish();
  }
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

interface ZipItem extends ArchiveEntry {
  entry: yauzl.Entry;
}

async function extractZip(file: string, destDir: string, progress?: ProgressSink): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(file, { lazyEntries: true, decodeStrings: false, autoClose: false });
  } catch (err) {
    throw new GraftError('DATASET', `Cannot read archive ${file}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    const items = await readZipEntries(file, zip);
    checkEntries(file, items);
    const task = progressOrSilent(progress).start(`extract ${path.basename(file)}`, items.length, 'file');
    try {
      for (const item of items) {
        await writeZipItem(file, zip, item, destDir);
        task.increment();
      }
    } finally {
      task.finish();
    }
  } finally {
    zip.close();
  }
}

async function readZipEntries(file: string, zip: yauzl.ZipFile): Promise<ZipItem[]> {
  const items: ZipItem[] = [];
  try {
    for await (const entry of zip.eachEntry()) {
      // decodeStrings is off so that yauzl does not reject unsafe names before we can report them ourselves.
      const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, false);
      const madeByUnix = entry.versionMadeBy >> 8 === 3;
      const mode = madeByUnix ? (entry.externalFileAttributes >>> 16) & S_IFMT : 0;
      let type: EntryType;
      if (name.endsWith('/') || mode === S_IFDIR) type = 'directory';
      else if (mode === S_IFLNK) type = 'symlink';
      else if (mode === 0 || mode === S_IFREG) type = 'file';
      else throw new GraftError('DATASET', `Refusing to extract ${file}: entry "${name}" is a special file`);
      if (entry.isEncrypted()) throw new GraftError('DATASET', `Cannot extract ${file}: entry "${name}" is encrypted`);
      items.push({ name, type, entry });
    }
    for (const item of items) {
      if (item.type === 'symlink') item.linkTarget = (await readStream(await zip.openReadStreamPromise(item.entry))).toString('utf8');
    }
  } catch (err) {
    if (err instanceof GraftError) throw err;
    throw new GraftError('DATASET', `Cannot read archive ${file}: ${errorMessage(err)}`, { cause: err });
  }
  return items;
}

async function writeZipItem(file: string, zip: yauzl.ZipFile, item: ZipItem, destDir: string): Promise<void> {
  const target = path.join(destDir, ...entryParts(item.name));
  try {
    if (item.type === 'directory') {
      await fs.promises.mkdir(target, { recursive: true });
      return;
    }
    await fs.promises.mkdir(path.dirname(target), { recursive: true });
    await fs.promises.rm(target, { force: true });
    if (item.type === 'symlink') {
      await fs.promises.symlink(item.linkTarget!, target);
      return;
    }
    await pipeline(await zip.openReadStreamPromise(item.entry), fs.createWriteStream(target, { flags: 'wx' }));
  } catch (err) {
    throw new GraftError('DATASET', `Could not extract entry "${item.name}" of ${file}: ${errorMessage(err)}`, { cause: err });
  }
}

async function readStream(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
