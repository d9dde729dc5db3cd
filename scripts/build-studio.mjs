/* global console */
// Bundles the studio's browser client (src/studio/client/*.ts) with esbuild into dist/studio-client/,
// next to its index.html and style.css. onnxruntime-web stays out of the bundle: the server serves it from /ort/.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src', 'studio', 'client');
const out = path.join(root, 'dist', 'studio-client');

fs.mkdirSync(out, { recursive: true });
await build({
  entryPoints: [path.join(src, 'main.ts')],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  minify: true,
  sourcemap: false,
  outfile: path.join(out, 'app.js'),
  logLevel: 'warning',
});
for (const file of ['index.html', 'style.css']) fs.copyFileSync(path.join(src, file), path.join(out, file));
console.log(`studio client → ${path.relative(root, out)}`);
