/** Shared by the studio tests: build the client once, start a studio on a random loopback port, raw HTTP requests. */
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { repoRoot } from '../helpers/paths.js';

let built = false;

/** Bundles the browser client (what `npm run build` does for the studio) so the tests serve the current sources. */
export function buildClient(): void {
  if (built) return;
  execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'build-studio.mjs')], { stdio: 'pipe' });
  built = true;
}

export interface RawResponse { status: number; body: string; headers: http.IncomingHttpHeaders }

/** A request with the path sent byte for byte (fetch would normalise "..", and forbids setting Host). */
export function rawRequest(base: string, opts: { method?: string; path: string; headers?: Record<string, string>; body?: Buffer | string }): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method: opts.method ?? 'GET', path: opts.path, headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}
