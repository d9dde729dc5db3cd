/** A training job: one run per chosen backbone, each in its own run folder, through graft's training calls. */
import fs from 'node:fs';
import path from 'node:path';
import { findEntry, loadModel, trainClassifier, trainEndToEnd } from '../index.js';
import type { JobContext } from './jobs.js';
import { HttpError } from './http.js';
import type { RunInfo, Workspace } from './workspace.js';

export interface TrainRequest {
  backbones: string[];
  head: 'linear' | 'mlp';
  fineTune: boolean;
  /** Head epochs (frozen features). */
  epochs: number;
  /** End-to-end epochs when fineTune. */
  fineTuneEpochs: number;
}

export function parseTrainRequest(body: Record<string, unknown>): TrainRequest {
  const backbones = Array.isArray(body.backbones) ? body.backbones.filter((b): b is string => typeof b === 'string') : [];
  if (!backbones.length || backbones.length > 4) throw new HttpError(400, 'choose one to four backbones');
  for (const b of backbones) if (!findEntry(b)) throw new HttpError(400, `unknown backbone "${b}"`);
  const head = body.head === 'mlp' ? 'mlp' : 'linear';
  const int = (v: unknown, dflt: number, max: number) => (Number.isInteger(v) && (v as number) >= 1 && (v as number) <= max ? (v as number) : dflt);
  return { backbones, head, fineTune: body.fineTune === true, epochs: int(body.epochs, 30, 500), fineTuneEpochs: int(body.fineTuneEpochs, 2, 50) };
}

/** The share of each class held out for the accuracy the page shows (Teachable Machine holds out 15 %). */
const STUDIO_VAL_FRACTION = 0.2;

const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');

export async function trainJob(ws: Workspace, project: string, req: TrainRequest, ctx: JobContext): Promise<unknown> {
  const p = ws.project(project);
  if (p.classes.length < 2) throw new HttpError(400, 'a project needs at least two classes to train');
  const dataDir = path.join(ws.projectDir(project), 'data');
  const finished: RunInfo[] = [];
  for (const backbone of req.backbones) {
    ctx.signal.throwIfAborted();
    let id = `${stamp()}-${backbone}`;
    for (let k = 2; fs.existsSync(ws.runDir(project, id)); k++) id = `${stamp()}-${backbone}-${k}`;
    const run: RunInfo = { id, backbone, head: req.head, fineTune: req.fineTune, epochs: req.epochs, status: 'running', started: new Date().toISOString() };
    await ws.saveRun(project, run);
    const out = ws.runDir(project, id);
    const log = (line: string) => ctx.emit({ type: 'log', line });
    const onEpoch = (row: { epoch: number; trainLoss: number; trainAcc: number; valLoss?: number; valAcc?: number }) =>
      ctx.emit({ type: 'epoch', run: id, epoch: row.epoch, trainLoss: row.trainLoss, trainAcc: row.trainAcc, valLoss: row.valLoss, valAcc: row.valAcc });
    log(`run ${id}: ${backbone}, ${req.head} head${req.fineTune ? ', fine-tuned' : ''}`);
    try {
      const model = await loadModel(backbone, { progress: ctx.progress });
      if (req.fineTune) {
        const report = await trainEndToEnd(dataDir, {
          // The page's "fine-tune the last block": quick enough to watch (the CLI default trains every block, 8 epochs).
          out, model, epochs: req.fineTuneEpochs, head: { head: req.head, epochs: req.epochs }, unfreeze: { blocks: 1 }, lr: 1e-4, labelSmoothing: 0,
          signal: ctx.signal, progress: ctx.progress, log, onEpoch,
        });
        if (report.interrupted) throw new Error('cancelled');
        run.accuracy = report.val?.accuracy;
      } else {
        // Hold out a validation split (like Teachable Machine) so the page can show an accuracy on unseen images.
        // Mini-batch epochs (not the CLI's one-solve L-BFGS default), so the page can draw curves that grow live.
        const report = await trainClassifier(dataDir, { model, head: req.head, solver: 'sgd', epochs: req.epochs, val: STUDIO_VAL_FRACTION, out, signal: ctx.signal, progress: ctx.progress, log, onEpoch });
        run.accuracy = report.val?.accuracy;
      }
      run.status = 'done';
    } catch (err) {
      run.status = ctx.signal.aborted ? 'cancelled' : 'failed';
      run.error = err instanceof Error ? err.message : String(err);
      throw err;
    } finally {
      run.finished = new Date().toISOString();
      await ws.saveRun(project, run);
    }
    finished.push(run);
  }
  return { runs: finished };
}
