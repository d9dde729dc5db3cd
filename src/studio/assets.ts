/** Where the studio's browser files live: the esbuild bundle (built by `npm run build`) and onnxruntime-web's dist folder. */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The package root: the nearest folder above this module with a package.json (works from src/ and dist/). */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('graft studio: cannot find the package root');
    dir = up;
  }
  return dir;
}

/** Folder of the built client (index.html, app.js, style.css). */
export function clientDir(): string {
  return path.join(packageRoot(), 'dist', 'studio-client');
}

/** onnxruntime-web's dist folder (the wasm runtime the page loads from /ort/). */
export function ortDir(): string | undefined {
  try {
    return path.dirname(createRequire(import.meta.url).resolve('onnxruntime-web/wasm'));
  } catch {
    return undefined;
  }
}

export const CLIENT_FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

/** Only the wasm build's loader and runtime are served, nothing else of node_modules. */
export const ORT_FILE = /^ort(-wasm-simd-threaded)?\.(wasm\.min\.mjs|mjs|wasm)$/;
