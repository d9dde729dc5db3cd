import fs from 'node:fs';
import path from 'node:path';

/** Creates files under root: keys are relative paths, values contents ('' makes a zero-byte file). */
export function makeTree(root: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(root, rel);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    fs.writeFileSync(full, content);
  }
}

/** Junk that every layout must ignore silently, placed in dir (relative prefix). */
export function junkFiles(prefix: string): Record<string, string> {
  const p = prefix ? `${prefix}/` : '';
  return {
    [`${p}.DS_Store`]: 'x',
    [`${p}Thumbs.db`]: 'x',
    [`${p}desc.mat`]: 'x',
    [`${p}notes.txt`]: 'x',
    [`${p}box.xml`]: 'x',
    [`${p}meta.json`]: '{}',
    [`${p}.hidden.jpg`]: 'x',
  };
}

/** Every entry below root (relative path, type, size, mtime), sorted: equal snapshots mean nothing was touched. */
export function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(root, rel))) {
      const r = path.join(rel, name);
      const st = fs.lstatSync(path.join(root, r));
      out.push(`${r}\t${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'}\t${st.size}\t${st.mtimeMs}`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out.sort();
}
