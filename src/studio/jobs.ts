/**
 * Long jobs (training, dream, attack): at most one per project, running independently of any HTTP
 * connection. Clients follow a job through server-sent events; a client that goes away only stops
 * receiving — the job runs on, and its events are kept so a reconnecting page catches up.
 */
import type http from 'node:http';
import type { ProgressSink } from '../index.js';
import { HttpError } from './http.js';

import type { JobEvent } from './events.js';
export type { JobEvent };

export interface Job {
  id: string;
  project: string;
  kind: string;
  state: 'running' | 'done' | 'failed' | 'cancelled';
  events: JobEvent[];
  controller: AbortController;
  listeners: Set<(e: JobEvent) => void>;
}

/** What a job's body gets: where to send events, and the signal that cancels it. */
export interface JobContext {
  emit(e: JobEvent): void;
  progress: ProgressSink;
  signal: AbortSignal;
}

const MAX_EVENTS = 2000;

export class Jobs {
  private readonly jobs = new Map<string, Job>();
  private readonly active = new Map<string, Job>();
  private next = 1;

  /** Starts `body` as the project's one job, or refuses with 409 while another one runs. */
  start(project: string, kind: string, body: (ctx: JobContext) => Promise<unknown>): Job {
    const busy = this.active.get(project);
    if (busy) throw new HttpError(409, `project is busy with a ${busy.kind} job (${busy.id}); cancel it or wait`);
    const job: Job = { id: `job${this.next++}`, project, kind, state: 'running', events: [], controller: new AbortController(), listeners: new Set() };
    this.jobs.set(job.id, job);
    this.active.set(project, job);
    const emit = (e: JobEvent) => this.emit(job, e);
    const ctx: JobContext = { emit, progress: progressSink(emit), signal: job.controller.signal };
    // Deferred so the caller can answer the request with the job id before the first event.
    setImmediate(() => {
      body(ctx).then(
        (result) => this.finish(job, job.controller.signal.aborted ? 'cancelled' : 'done', job.controller.signal.aborted ? { type: 'cancelled' } : { type: 'done', result }),
        (err: unknown) => this.finish(job, job.controller.signal.aborted ? 'cancelled' : 'failed', job.controller.signal.aborted ? { type: 'cancelled' } : { type: 'failed', message: err instanceof Error ? err.message : String(err) }),
      );
    });
    return job;
  }

  get(id: string): Job {
    const job = this.jobs.get(id);
    if (!job) throw new HttpError(404, `no job "${id}"`);
    return job;
  }

  activeFor(project: string): Job | undefined {
    return this.active.get(project);
  }

  cancel(id: string): void {
    const job = this.get(id);
    if (job.state === 'running') job.controller.abort(new Error('cancelled by the user'));
  }

  /** Streams a job's past and future events as text/event-stream until it ends or the client leaves. */
  follow(id: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    const job = this.get(id);
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    const send = (e: JobEvent) => {
      if (res.destroyed || res.writableEnded) return;
      res.write(`data: ${JSON.stringify(e)}\n\n`);
      if (e.type === 'done' || e.type === 'failed' || e.type === 'cancelled') res.end();
    };
    for (const e of job.events) send(e);
    if (job.state !== 'running') {
      if (!res.writableEnded) res.end();
      return;
    }
    job.listeners.add(send);
    const leave = () => job.listeners.delete(send);
    req.on('close', leave);
    res.on('error', leave);
  }

  /** Aborts every running job (server shutdown) and waits for them to settle. */
  async stopAll(timeoutMs = 10_000): Promise<void> {
    const running = [...this.active.values()];
    for (const j of running) j.controller.abort(new Error('server stopping'));
    const until = Date.now() + timeoutMs;
    while (this.active.size && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  }

  private emit(job: Job, e: JobEvent): void {
    const last = job.events[job.events.length - 1];
    // Progress ticks replace the previous tick of the same bar: the buffer keeps history, not every image.
    if (e.type === 'progress' && last?.type === 'progress' && last.label === e.label) job.events[job.events.length - 1] = e;
    else job.events.push(e);
    if (job.events.length > MAX_EVENTS) job.events.splice(0, job.events.length - MAX_EVENTS);
    for (const l of job.listeners) {
      try {
        l(e);
      } catch {
        job.listeners.delete(l);
      }
    }
  }

  private finish(job: Job, state: Job['state'], last: JobEvent): void {
    job.state = state;
    this.emit(job, last);
    job.listeners.clear();
    if (this.active.get(job.project) === job) this.active.delete(job.project);
  }
}

/** A ProgressSink that turns the library's bars into (rate-limited) progress events. */
function progressSink(emit: (e: JobEvent) => void): ProgressSink {
  return {
    start(label, total, unit) {
      let done = 0;
      let lastSent = 0;
      const send = (status?: string, force = false) => {
        const now = Date.now();
        if (!force && now - lastSent < 150) return;
        lastSent = now;
        emit({ type: 'progress', label, done, total, unit, status });
      };
      send(undefined, true);
      return {
        update(d, status) { done = d; send(status); },
        increment(by = 1, status) { done += by; send(status); },
        finish(status) { if (total !== undefined) done = total; send(status, true); },
      };
    },
  };
}
