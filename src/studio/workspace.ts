/**
 * The studio's workspace folder: everything the studio writes lives below it.
 *
 *   WORKSPACE/projects/<slug>/project.json      name, classes (with a linked folder, if any), unreadable files
 *   WORKSPACE/projects/<slug>/data/<class>/…    uploaded images (sharp-checked), plus `linked-folder` → the class's folder on disk
 *   WORKSPACE/projects/<slug>/runs/<run>/        one training run: run.json, model.onnx, report.json (and report.html)
 *   WORKSPACE/projects/<slug>/scratch/           short-lived inputs of explain / attack / features
 *
 * `data/` is a class-folders dataset that graft's trainer reads directly; linked folders are only ever read.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../util/fsutil.js';
import { HttpError } from './http.js';
import { checkEntityName, slug, storedFileName } from './names.js';
import { inside } from './paths.js';

export const LINK_NAME = 'linked-folder';
const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.heic', '.heif', '.bmp']);

export interface ClassInfo {
  name: string;
  /** Absolute folder on disk that this class also reads its images from. */
  folder?: string;
  /** Files of the linked folder that sharp could not decode, with sharp's reason. */
  unreadable: { file: string; reason: string }[];
}

export interface Project {
  id: string;
  name: string;
  created: string;
  classes: ClassInfo[];
}

export type RunStatus = 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';

export interface RunInfo {
  id: string;
  backbone: string;
  head: string;
  fineTune: boolean;
  epochs: number;
  status: RunStatus;
  started: string;
  finished?: string;
  /** Validation accuracy of the exported model. */
  accuracy?: number;
  error?: string;
}

export class Workspace {
  readonly root: string;
  readonly projectsDir: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.projectsDir = path.join(this.root, 'projects');
    fs.mkdirSync(this.projectsDir, { recursive: true });
    this.markInterruptedRuns();
  }

  listProjects(): Project[] {
    return fs.readdirSync(this.projectsDir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && fs.existsSync(path.join(this.projectsDir, e.name, 'project.json')))
      .map((e) => this.project(e.name))
      .sort((a, b) => a.created.localeCompare(b.created));
  }

  project(id: string): Project {
    const file = path.join(inside(this.projectsDir, id), 'project.json');
    if (!fs.existsSync(file)) throw new HttpError(404, `no project "${id}"`);
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Project;
  }

  projectDir(id: string): string {
    return inside(this.projectsDir, id);
  }

  async createProject(rawName: unknown): Promise<Project> {
    const name = checkEntityName('project', rawName);
    let id = slug(name);
    for (let k = 2; fs.existsSync(path.join(this.projectsDir, id)); k++) id = `${slug(name)}-${k}`;
    const project: Project = { id, name, created: new Date().toISOString(), classes: [] };
    await fs.promises.mkdir(path.join(this.projectDir(id), 'data'), { recursive: true });
    await this.save(project);
    return project;
  }

  async addClass(id: string, rawName: unknown, rawFolder?: unknown): Promise<ClassInfo> {
    const project = this.project(id);
    const name = checkEntityName('class', rawName);
    if (project.classes.some((c) => c.name.toLowerCase() === name.toLowerCase())) throw new HttpError(409, `class "${name}" exists`);
    const info: ClassInfo = { name, unreadable: [] };
    const dir = this.classDir(id, name);
    await fs.promises.mkdir(dir, { recursive: true });
    if (rawFolder !== undefined && rawFolder !== '') {
      if (typeof rawFolder !== 'string' || !path.isAbsolute(rawFolder)) throw new HttpError(400, 'folder must be an absolute path');
      const folder = path.resolve(rawFolder);
      const stat = await fs.promises.stat(folder).catch(() => undefined);
      if (!stat?.isDirectory()) throw new HttpError(400, `${folder} is not a folder`);
      if (isWithin(this.root, folder)) throw new HttpError(400, 'a class cannot read a folder inside the workspace');
      // A symlink inside the workspace; the trainer follows it, the studio never writes through it.
      await fs.promises.symlink(folder, path.join(dir, LINK_NAME), 'dir');
      info.folder = folder;
      info.unreadable = await findUnreadable(folder);
    }
    project.classes.push(info);
    await this.save(project);
    return info;
  }

  classDir(id: string, name: string): string {
    return inside(this.projectDir(id), 'data', name);
  }

  classInfo(id: string, name: string): ClassInfo {
    const found = this.project(id).classes.find((c) => c.name === name);
    if (!found) throw new HttpError(404, `no class "${name}"`);
    return found;
  }

  /** Checks the bytes decode as an image (sharp, full decode), then stores them under a sanitised, non-clashing name. */
  async addImage(id: string, className: string, clientName: string, bytes: Buffer): Promise<string> {
    this.classInfo(id, className);
    let format: string | undefined;
    try {
      const meta = await sharp(bytes, { failOn: 'error' }).metadata();
      format = meta.format;
      await sharp(bytes, { failOn: 'error' }).raw().toBuffer();
    } catch (err) {
      throw new HttpError(415, `not a readable image: ${(err as Error).message}`);
    }
    if (!format || !['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif'].includes(format)) throw new HttpError(415, `unsupported image format ${format ?? '?'}`);
    const dir = this.classDir(id, className);
    const realDir = await fs.promises.realpath(dir);
    if (!isWithin(await fs.promises.realpath(this.root), realDir)) throw new HttpError(400, 'class folder leaves the workspace');
    const wanted = storedFileName(clientName, format);
    let name = wanted;
    for (let k = 2; fs.existsSync(path.join(dir, name)); k++) name = wanted.replace(/(\.[^.]+)$/, `-${k}$1`);
    await writeFileAtomic(inside(dir, name), bytes);
    return name;
  }

  /** Image files of a class (relative to its folder: uploads, then linked-folder/…), sorted. */
  async classImages(id: string, className: string): Promise<string[]> {
    const dir = this.classDir(id, className);
    const uploads = (await fs.promises.readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isFile() && IMAGE_EXT.has(path.extname(e.name).toLowerCase()))
      .map((e) => e.name)
      .sort();
    const link = path.join(dir, LINK_NAME);
    const linked = fs.existsSync(link) ? (await listImagesBelow(link)).map((f) => `${LINK_NAME}/${f}`) : [];
    return [...uploads, ...linked];
  }

  runsDir(id: string): string {
    return inside(this.projectDir(id), 'runs');
  }

  runDir(id: string, runId: string): string {
    return inside(this.runsDir(id), runId);
  }

  listRuns(id: string): RunInfo[] {
    const dir = this.runsDir(id);
    if (!fs.existsSync(dir)) return [];
    return fs.readdirSync(dir)
      .filter((r) => fs.existsSync(path.join(dir, r, 'run.json')))
      .map((r) => JSON.parse(fs.readFileSync(path.join(dir, r, 'run.json'), 'utf8')) as RunInfo)
      .sort((a, b) => a.started.localeCompare(b.started));
  }

  run(id: string, runId: string): RunInfo {
    const file = path.join(this.runDir(id, runId), 'run.json');
    if (!fs.existsSync(file)) throw new HttpError(404, `no run "${runId}"`);
    return JSON.parse(fs.readFileSync(file, 'utf8')) as RunInfo;
  }

  async saveRun(id: string, run: RunInfo): Promise<void> {
    const dir = this.runDir(id, run.id);
    await fs.promises.mkdir(dir, { recursive: true });
    await writeFileAtomic(path.join(dir, 'run.json'), JSON.stringify(run, null, 2));
  }

  scratchDir(id: string): string {
    const dir = inside(this.projectDir(id), 'scratch');
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  private async save(project: Project): Promise<void> {
    await writeFileAtomic(path.join(this.projectDir(project.id), 'project.json'), JSON.stringify(project, null, 2));
  }

  /** A run still marked running belongs to a server that stopped: say so instead of showing a run that never ends. */
  private markInterruptedRuns(): void {
    for (const p of this.listProjects()) {
      for (const r of this.listRuns(p.id)) {
        if (r.status !== 'running') continue;
        r.status = 'interrupted';
        fs.writeFileSync(path.join(this.runDir(p.id, r.id), 'run.json'), JSON.stringify(r, null, 2));
      }
    }
  }
}

export function isWithin(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

async function listImagesBelow(dir: string, prefix = '', depth = 0): Promise<string[]> {
  if (depth > 4) return [];
  const out: string[] = [];
  const entries = await fs.promises.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (e.name.startsWith('.')) continue;
    const full = path.join(dir, e.name);
    const isDir = e.isDirectory() || (e.isSymbolicLink() && (await fs.promises.stat(full).then((s) => s.isDirectory(), () => false)));
    if (isDir) out.push(...(await listImagesBelow(full, `${prefix}${e.name}/`, depth + 1)));
    else if (IMAGE_EXT.has(path.extname(e.name).toLowerCase())) out.push(prefix + e.name);
  }
  return out;
}

/** Header check of every image in a linked folder (sharp metadata: cheap, catches non-images and truncated headers). */
async function findUnreadable(folder: string): Promise<{ file: string; reason: string }[]> {
  const bad: { file: string; reason: string }[] = [];
  for (const rel of await listImagesBelow(folder)) {
    try {
      const meta = await sharp(path.join(folder, rel)).metadata();
      if (!meta.width || !meta.height) bad.push({ file: rel, reason: 'no image size in the header' });
    } catch (err) {
      bad.push({ file: rel, reason: (err as Error).message });
    }
  }
  return bad;
}
