/**
 * Turning URL pieces into file paths without leaving a folder. Every file route goes through here: the
 * decoded segment must be a plain name (no "..", ".", slashes, backslashes, NUL or control characters),
 * and the joined path must still lie inside the root.
 */
import path from 'node:path';
import { HttpError } from './http.js';

/** Decodes one URL path segment once and checks it is a plain file or folder name. */
export function plainSegment(raw: string): string {
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, 'malformed percent-encoding in the URL');
  }
  checkPlainName(name);
  return name;
}

export function checkPlainName(name: string): void {
  // eslint-disable-next-line no-control-regex
  if (!name || name === '.' || name === '..' || /[/\\\u0000-\u001f\u007f]/.test(name) || name.includes('%')) {
    // '%' left after one decoding means the client double-encoded: never decode twice, refuse.
    throw new HttpError(400, 'that name is not allowed in a path');
  }
}

/** root/…names, guaranteed to be root or below it. */
export function inside(root: string, ...names: string[]): string {
  for (const n of names) checkPlainName(n);
  const full = path.resolve(root, ...names);
  const rel = path.relative(path.resolve(root), full);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new HttpError(400, 'path leaves its folder');
  return full;
}

/** Splits a raw URL path into raw segments, refusing empty segments and anything that smells of traversal before decoding. */
export function rawSegments(pathname: string): string[] {
  if (pathname.includes('\\') || pathname.includes('\0')) throw new HttpError(400, 'backslashes and NUL are not allowed in URLs');
  const parts = pathname.split('/').slice(1);
  if (parts.length && parts[parts.length - 1] === '') parts.pop();
  for (const p of parts) if (p === '' || p === '.' || p === '..') throw new HttpError(400, 'empty or dot segments are not allowed in URLs');
  return parts;
}
