/** Names that come from the user and become folder or file names in the workspace. */
import { HttpError } from './http.js';

/** Project and class names: letters, digits, space, _ - . (not leading), 1–64 characters. Refused, not rewritten, so a class is never silently renamed. */
export function checkEntityName(kind: string, name: unknown): string {
  if (typeof name !== 'string') throw new HttpError(400, `${kind} name missing`);
  const trimmed = name.trim();
  if (!/^[\p{L}\p{N}_-][\p{L}\p{N} _.-]{0,63}$/u.test(trimmed) || trimmed.endsWith('.')) {
    throw new HttpError(400, `${kind} name "${trimmed.slice(0, 80)}" is not allowed: use 1–64 letters, digits, spaces, _ - . (not at the start)`);
  }
  return trimmed;
}

/** A project's folder name: lower-case ASCII slug of its display name. */
export function slug(name: string): string {
  const s = name.normalize('NFKD').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 48);
  return s || 'project';
}

/**
 * An uploaded file's stored name: its base name reduced to [A-Za-z0-9._-], no leading dot, at most 80
 * characters, with the extension of the format sharp actually decoded (the client's extension is not trusted).
 */
export function storedFileName(clientName: string, format: string): string {
  const base = clientName.split(/[/\\]/).pop() ?? '';
  const stem = base.replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._-]+/, '').slice(0, 80) || 'image';
  return `${stem}.${format === 'jpeg' ? 'jpg' : format}`;
}
