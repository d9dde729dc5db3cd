/**
 * `graft studio`'s HTTP server (node:http: the API is a dozen routes, and every security check — Host/Origin,
 * path segments, body limits — stays visible here instead of inside framework defaults).
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { GraftError, REGISTRY } from '../index.js';
import { locateEntry } from '../models/load.js';
import { CLIENT_FILES, ORT_FILE, clientDir, ortDir } from './assets.js';
import { attackJob, contract, dreamJob, featureGrid, gradCam, layers } from './explore.js';
import { createGuard, isLoopback, type Guard } from './guard.js';
import { HttpError, readBody, readJson, sendJson } from './http.js';
import { Jobs } from './jobs.js';
import { inside, plainSegment, rawSegments } from './paths.js';
import { parseTrainRequest, trainJob } from './training.js';
import { LINK_NAME, Workspace } from './workspace.js';

export interface StudioOptions {
  dir: string;
  port?: number;
  host?: string;
  /** Largest accepted image upload, bytes (default 20 MB). */
  maxUploadBytes?: number;
}

export interface Studio {
  url: string;
  server: http.Server;
  workspace: Workspace;
  close(): Promise<void>;
}

/** Files a run folder may serve, with their types; nothing else in it is reachable. */
const RUN_FILES: Record<string, string> = {
  'model.onnx': 'application/octet-stream',
  'report.html': 'text/html; charset=utf-8',
  'report.json': 'application/json; charset=utf-8',
  'curves.png': 'image/png',
  'confusion.png': 'image/png',
};

const PAGE_CSP = [
  "default-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", "style-src 'self'", "img-src 'self' data: blob:",
  "media-src 'self' blob:", "connect-src 'self'", "frame-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'",
].join('; ');
/** report.html is self-contained: it may run its own inline code, but sandboxed away from the studio's origin and with no network. */
const REPORT_CSP = "sandbox allow-scripts; default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; font-src data:";

type Handler = (ctx: RequestContext) => Promise<void>;
interface RequestContext {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  params: string[];
  query: URLSearchParams;
}
interface Route { method: string; pattern: string[]; handler: Handler }

export async function startStudio(opts: StudioOptions): Promise<Studio> {
  const host = opts.host ?? '127.0.0.1';
  const maxUpload = opts.maxUploadBytes ?? 20 * 1024 * 1024;
  const workspace = new Workspace(opts.dir);
  const jobs = new Jobs();
  const routes = buildRoutes(workspace, jobs, maxUpload);
  // Known once the server listens (the port may be chosen by the OS); no request is handled before that.
  const guard: { current?: Guard } = {};

  const server = http.createServer((req, res) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.on('error', () => {});
    handle(req, res).catch((err: unknown) => fail(res, err));
  });
  server.on('clientError', (_err, socket) => socket.destroy());

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const refused = guard.current!.refuse(req);
    if (refused) throw new HttpError(403, refused);
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const segments = rawSegments(q < 0 ? raw : raw.slice(0, q));
    // Every segment must decode to a plain name, whichever route it is headed for (%2e%2e, %2f, %5c, %00, double encoding → 400).
    for (const s of segments) plainSegment(s);
    const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
    for (const route of routes) {
      const params = match(route.pattern, segments);
      if (params && route.method === req.method) return route.handler({ req, res, params, query });
    }
    throw new HttpError(routes.some((r) => match(r.pattern, segments)) ? 405 : 404, 'not found');
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  guard.current = createGuard(host, port);
  const shown = isLoopback(host) ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    server,
    workspace,
    async close() {
      await jobs.stopAll();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function fail(res: http.ServerResponse, err: unknown): void {
  let status = 500;
  let message = 'internal error';
  if (err instanceof HttpError) [status, message] = [err.status, err.message];
  else if (err instanceof GraftError) [status, message] = [400, err.message];
  else console.error('graft studio:', err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, { error: message });
}

/** Matches raw segments against a pattern; ':x' captures one decoded plain name, '*' the rest (each a plain name). */
function match(pattern: string[], segments: string[]): string[] | undefined {
  const params: string[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === '*') {
      if (i >= segments.length || segments.length - i > 6) return undefined;
      params.push(...segments.slice(i).map(plainSegment));
      return params;
    }
    if (i >= segments.length) return undefined;
    if (p.startsWith(':')) params.push(plainSegment(segments[i]));
    else if (p !== segments[i]) return undefined;
  }
  return pattern.length === segments.length ? params : undefined;
}

function sendFile(res: http.ServerResponse, file: string, type: string, extra: Record<string, string> = {}): void {
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  if (!stat?.isFile()) throw new HttpError(404, 'not found');
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': stat.size, 'Cache-Control': 'no-cache', ...extra });
  fs.createReadStream(file).pipe(res);
}

function buildRoutes(ws: Workspace, jobs: Jobs, maxUpload: number): Route[] {
  const routes: Route[] = [];
  const add = (method: string, pattern: string, handler: Handler) =>
    routes.push({ method, pattern: pattern.split('/').filter(Boolean), handler });
  const runFile = (p: string, r: string, name: string) => path.join(ws.runDir(p, ws.run(p, r).id), name);
  const doneModel = (p: string, r: string) => {
    const run = ws.run(p, r);
    if (run.status !== 'done') throw new HttpError(409, `run ${r} is ${run.status}`);
    return runFile(p, r, 'model.onnx');
  };
  /** Stores a request body (an image) in the project's scratch folder for library calls that take a path. */
  const scratchImage = async (p: string, req: http.IncomingMessage): Promise<string> => {
    const bytes = await readBody(req, maxUpload);
    try {
      await sharp(bytes, { failOn: 'error' }).metadata();
    } catch (err) {
      throw new HttpError(415, `not a readable image: ${(err as Error).message}`);
    }
    const file = path.join(ws.scratchDir(p), `${crypto.randomUUID()}.img`);
    await fs.promises.writeFile(file, bytes);
    return file;
  };
  const page = (name: string) => async ({ res }: RequestContext) => {
    const extra: Record<string, string> = name === 'index.html' ? { 'Content-Security-Policy': PAGE_CSP } : {};
    const file = path.join(clientDir(), name);
    if (!fs.existsSync(file)) throw new HttpError(500, 'the studio client is not built: run `npm run build`');
    sendFile(res, file, CLIENT_FILES[name], extra);
  };

  add('GET', '/', page('index.html'));
  for (const name of Object.keys(CLIENT_FILES)) add('GET', `/${name}`, page(name));
  add('GET', '/ort/:file', async ({ res, params: [name] }) => {
    const dir = ortDir();
    if (!dir || !ORT_FILE.test(name)) throw new HttpError(404, 'not found');
    sendFile(res, inside(dir, name), name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript; charset=utf-8');
  });

  add('GET', '/api/models', async ({ res }) => {
    sendJson(res, 200, REGISTRY.map((e) => ({ name: e.name, description: e.description, local: locateEntry(e) !== undefined, available: locateEntry(e) !== undefined || !!e.url })));
  });
  add('GET', '/api/projects', async ({ res }) => sendJson(res, 200, ws.listProjects()));
  add('POST', '/api/projects', async ({ req, res }) => {
    const body = await readJson<{ name?: unknown }>(req);
    sendJson(res, 201, await ws.createProject(body.name));
  });
  add('GET', '/api/projects/:p', async ({ res, params: [p] }) => {
    const project = ws.project(p);
    const classes = await Promise.all(project.classes.map(async (c) => {
      const images = await ws.classImages(p, c.name);
      return { ...c, count: images.length, sample: images.slice(0, 8) };
    }));
    const job = jobs.activeFor(p);
    sendJson(res, 200, { ...project, classes, runs: ws.listRuns(p), job: job ? { id: job.id, kind: job.kind } : null });
  });
  add('POST', '/api/projects/:p/classes', async ({ req, res, params: [p] }) => {
    const body = await readJson<{ name?: unknown; folder?: unknown }>(req);
    sendJson(res, 201, await ws.addClass(p, body.name, body.folder));
  });
  add('POST', '/api/projects/:p/classes/:c/images', async ({ req, res, params: [p, c], query }) => {
    ws.classInfo(p, c);
    const bytes = await readBody(req, maxUpload);
    const stored = await ws.addImage(p, c, query.get('name') ?? 'image', bytes);
    sendJson(res, 201, { stored });
  });
  add('GET', '/api/projects/:p/classes/:c/images/*', async ({ res, params: [p, c, ...rest] }) => {
    ws.classInfo(p, c);
    if (rest.length > 1 && rest[0] !== LINK_NAME) throw new HttpError(404, 'not found');
    const file = inside(ws.classDir(p, c), ...rest);
    if (!fs.statSync(file, { throwIfNoEntry: false })?.isFile()) throw new HttpError(404, 'not found');
    // A re-encoded thumbnail: the page never receives the stored bytes as they are.
    const thumb = await sharp(file).rotate().resize(160, 160, { fit: 'cover' }).jpeg({ quality: 80 }).toBuffer()
      .catch(() => { throw new HttpError(422, 'that file does not decode as an image'); });
    res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Cache-Control': 'no-cache' });
    res.end(thumb);
  });

  add('POST', '/api/projects/:p/train', async ({ req, res, params: [p] }) => {
    ws.project(p);
    const request = parseTrainRequest(await readJson<Record<string, unknown>>(req));
    const job = jobs.start(p, 'train', (ctx) => trainJob(ws, p, request, ctx));
    sendJson(res, 202, { job: job.id });
  });
  add('GET', '/api/jobs/:j/events', async ({ req, res, params: [j] }) => jobs.follow(j, req, res));
  add('POST', '/api/jobs/:j/cancel', async ({ res, params: [j] }) => {
    jobs.cancel(j);
    sendJson(res, 202, { cancelled: j });
  });

  add('GET', '/api/projects/:p/runs/:r', async ({ res, params: [p, r] }) => {
    const run = ws.run(p, r);
    const reportFile = runFile(p, r, 'report.json');
    const report = fs.existsSync(reportFile) ? JSON.parse(fs.readFileSync(reportFile, 'utf8')) : undefined;
    const files = Object.keys(RUN_FILES).filter((f) => fs.existsSync(runFile(p, r, f)));
    sendJson(res, 200, { run, report, files });
  });
  add('GET', '/api/projects/:p/runs/:r/files/:name', async ({ res, params: [p, r, name] }) => {
    const type = RUN_FILES[name];
    if (!type) throw new HttpError(404, 'not found');
    const extra: Record<string, string> = name === 'report.html'
      ? { 'Content-Security-Policy': REPORT_CSP }
      : name === 'model.onnx' ? { 'Content-Disposition': `attachment; filename="${r}.onnx"` } : {};
    sendFile(res, runFile(p, r, name), type, extra);
  });
  add('GET', '/api/projects/:p/runs/:r/contract', async ({ res, params: [p, r] }) => {
    const { labels, preprocess } = contract(doneModel(p, r));
    sendJson(res, 200, { labels, preprocess });
  });
  add('POST', '/api/projects/:p/runs/:r/explain', async ({ req, res, params: [p, r] }) => {
    const model = doneModel(p, r);
    sendJson(res, 200, await gradCam(model, await readBody(req, maxUpload)));
  });
  add('GET', '/api/projects/:p/runs/:r/layers', async ({ res, params: [p, r] }) => sendJson(res, 200, await layers(doneModel(p, r))));
  add('POST', '/api/projects/:p/runs/:r/features', async ({ req, res, params: [p, r], query }) => {
    const model = doneModel(p, r);
    const layer = query.get('layer');
    if (!layer) throw new HttpError(400, 'layer missing');
    const file = await scratchImage(p, req);
    try {
      sendJson(res, 200, await featureGrid(model, file, layer));
    } finally {
      await fs.promises.rm(file, { force: true });
    }
  });
  add('POST', '/api/projects/:p/runs/:r/dream', async ({ req, res, params: [p, r] }) => {
    const model = doneModel(p, r);
    const body = await readJson<{ class?: unknown; steps?: unknown }>(req);
    if (typeof body.class !== 'string') throw new HttpError(400, 'class missing');
    const steps = Number.isInteger(body.steps) && (body.steps as number) >= 1 && (body.steps as number) <= 500 ? (body.steps as number) : 100;
    const job = jobs.start(p, 'dream', (ctx) => dreamJob(model, body.class as string, steps, ctx));
    sendJson(res, 202, { job: job.id });
  });
  add('POST', '/api/projects/:p/runs/:r/attack', async ({ req, res, params: [p, r], query }) => {
    const model = doneModel(p, r);
    const target = query.get('target');
    if (!target) throw new HttpError(400, 'target missing');
    const transferRun = query.get('transfer');
    const transfer = transferRun ? doneModel(p, plainSegment(encodeURIComponent(transferRun))) : undefined;
    if (jobs.activeFor(p)) throw new HttpError(409, 'project is busy with another job');
    const file = await scratchImage(p, req);
    const outDir = fs.mkdtempSync(path.join(ws.scratchDir(p), 'attack-'));
    const job = jobs.start(p, 'attack', (ctx) => attackJob(model, file, target, transfer, outDir, ctx).finally(async () => {
      await fs.promises.rm(file, { force: true });
      await fs.promises.rm(outDir, { recursive: true, force: true });
    }));
    sendJson(res, 202, { job: job.id });
  });
  return routes;
}
