import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { GraftError, errorMessage } from './errors.js';
import { progressOrSilent, type ProgressSink } from './progress.js';

export interface DownloadOptions {
  /** Expected sha256 (hex); the file is rejected and removed when it differs. */
  sha256?: string;
  progress?: ProgressSink;
  /** Progress label; defaults to "download <file name>". */
  label?: string;
  /** Tells the user where to put the file by hand when the download fails. */
  manualHint?: string;
  /** Receives informational lines, e.g. the computed hash of a file that had no known checksum. */
  log?: (line: string) => void;
}

/** Downloads url to dest through a temporary `dest.part-*` file, verifying sha256 when given; returns dest. */
export async function download(url: string, dest: string, options: DownloadOptions = {}): Promise<string> {
  const dir = path.dirname(dest);
  await fs.promises.mkdir(dir, { recursive: true });
  const part = `${dest}.part-${crypto.randomBytes(6).toString('hex')}`;
  const hint = options.manualHint ?? `download it by other means and place it at ${dest}`;
  const fail = (reason: string, cause?: unknown): GraftError =>
    new GraftError('DOWNLOAD', `Could not download ${url}: ${reason}. To continue offline, ${hint}.`, { cause });

  let response: Response;
  try {
    // identity: the bytes hashed and counted must be the bytes of the file, not a transfer-decoded version of them.
    response = await fetch(url, { redirect: 'follow', headers: { 'accept-encoding': 'identity' } });
  } catch (err) {
    throw fail(networkReason(err), err);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel().catch(() => undefined);
    throw fail(`HTTP ${response.status} ${response.statusText}`.trim());
  }

  const lengthHeader = response.headers.get('content-length');
  const total = lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  const task = progressOrSilent(options.progress).start(options.label ?? `download ${path.basename(dest)}`, total, 'B');
  const hash = crypto.createHash('sha256');
  let received = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      received += chunk.length;
      task.update(received);
      done(null, chunk);
    },
  });

  try {
    try {
      await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), meter, fs.createWriteStream(part));
    } catch (err) {
      throw fail(`the transfer was interrupted after ${received} bytes (${networkReason(err)})`, err);
    }
    if (total !== undefined && received !== total) {
      throw fail(`received ${received} bytes but the server announced ${total}`);
    }
    const actual = hash.digest('hex');
    if (options.sha256 !== undefined && actual !== options.sha256.toLowerCase()) {
      throw new GraftError('CHECKSUM',
        `Checksum mismatch for ${url}: expected sha256 ${options.sha256}, got ${actual}. The download was discarded; ` +
        'the file may be corrupted in transit or changed upstream.');
    }
    if (options.sha256 === undefined) options.log?.(`sha256 of ${url}: ${actual} (no known checksum to verify against)`);
    await fs.promises.rename(part, dest);
  } catch (err) {
    await fs.promises.rm(part, { force: true });
    throw err;
  } finally {
    task.finish();
  }
  return dest;
}

/** The most specific reason in a fetch/stream error chain, e.g. "connect ECONNREFUSED 127.0.0.1:9". */
function networkReason(err: unknown): string {
  let e: unknown = err;
  let reason = errorMessage(err);
  while (e instanceof Error && e.cause !== undefined) {
    e = e.cause;
    reason = errorMessage(e);
  }
  return reason;
}

export interface EnsureFileOptions {
  url: string;
  sha256?: string;
  fileName: string;
  /** Directories searched, in order, before cacheDir (e.g. user-configured model folders). */
  searchDirs: string[];
  cacheDir: string;
  progress?: ProgressSink;
  label?: string;
  log?: (line: string) => void;
}

/** Returns the first existing searchDirs/fileName or cacheDir/fileName; otherwise downloads into cacheDir. */
export async function ensureFile(options: EnsureFileOptions): Promise<string> {
  const candidates = [...options.searchDirs, options.cacheDir].map((d) => path.join(d, options.fileName));
  for (const candidate of candidates) {
    if (await isFile(candidate)) return candidate;
  }
  const dest = path.join(options.cacheDir, options.fileName);
  return download(options.url, dest, {
    sha256: options.sha256,
    progress: options.progress,
    label: options.label,
    log: options.log,
    manualHint: `download it by other means and place ${options.fileName} in one of: ${[...options.searchDirs, options.cacheDir].join(', ')}`,
  });
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await fs.promises.stat(file)).isFile();
  } catch {
    return false;
  }
}
