/** DOM and HTTP helpers shared by the studio's panels. */

type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

/** Creates an element: h('button', { class: 'primary', onclick: f }, 'Train'). Text children are set as text, never HTML. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Node | string | null | undefined)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

export function $(selector: string): HTMLElement {
  const el = document.querySelector<HTMLElement>(selector);
  if (!el) throw new Error(`missing element ${selector}`);
  return el;
}

export const enc = encodeURIComponent;

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(path, init);
  const text = await res.text();
  const body = text ? (JSON.parse(text) as T & { error?: string }) : ({} as T & { error?: string });
  if (!res.ok) throw new Error(body.error ?? `${res.status} ${res.statusText}`);
  return body;
}

export const postJson = <T>(path: string, body: unknown) =>
  api<T>(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

export const postBlob = <T>(path: string, blob: Blob) => api<T>(path, { method: 'POST', body: blob });

import type { JobEvent } from '../events.js';
export type { JobEvent };

/** Follows a job's server-sent events until it ends; resolves with the final event. */
export function followJob(id: string, onEvent: (e: JobEvent) => void): Promise<JobEvent> {
  return new Promise((resolve) => {
    const source = new EventSource(`/api/jobs/${enc(id)}/events`);
    source.onmessage = (m: MessageEvent<string>) => {
      const e = JSON.parse(m.data) as JobEvent;
      onEvent(e);
      if (e.type === 'done' || e.type === 'failed' || e.type === 'cancelled') {
        source.close();
        resolve(e);
      }
    };
  });
}

/** Shows an error in the status line instead of an unhandled rejection. */
export function report(err: unknown): void {
  const line = document.getElementById('status');
  if (line) {
    line.textContent = err instanceof Error ? err.message : String(err);
    line.className = 'status error';
  }
}

export function say(text: string): void {
  const line = document.getElementById('status');
  if (line) {
    line.textContent = text;
    line.className = 'status';
  }
}

export const pct = (x: number | null | undefined) => (typeof x === 'number' && Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : '–');
