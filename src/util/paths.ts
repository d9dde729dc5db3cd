import os from 'node:os';
import path from 'node:path';

/** graft's cache directory: $GRAFT_CACHE, else $XDG_CACHE_HOME/graft, else ~/.cache/graft. */
export function cacheDir(...sub: string[]): string {
  const base = process.env.GRAFT_CACHE
    ?? (process.env.XDG_CACHE_HOME ? path.join(process.env.XDG_CACHE_HOME, 'graft') : path.join(os.homedir(), '.cache', 'graft'));
  return path.join(base, ...sub);
}

/** Directories named by $GRAFT_MODELS (path-list separated), in order. */
export function modelDirs(): string[] {
  const v = process.env.GRAFT_MODELS;
  return v ? v.split(path.delimiter).filter(Boolean) : [];
}
