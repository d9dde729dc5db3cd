/**
 * DNS-rebinding and cross-site guard: a page on another site can make the browser send requests to
 * 127.0.0.1, and a rebinding domain can even make them look same-origin to the browser. Both are caught by
 * accepting only the Host names the studio is served under, and an Origin (when sent) of exactly those.
 */
import type http from 'node:http';

export interface Guard {
  /** Undefined when the request may go on; otherwise the reason it is refused. */
  refuse(req: http.IncomingMessage): string | undefined;
}

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

/** `host` is the address the server binds; loopback names are always accepted when it binds loopback. */
export function createGuard(host: string, port: number): Guard {
  const names = new Set<string>();
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  names.add(bracketed.toLowerCase());
  // A wildcard bind also listens on loopback, where the page is usually opened.
  if (isLoopback(host) || host === '0.0.0.0' || host === '::') for (const n of LOOPBACK_NAMES) names.add(n);
  const hosts = new Set([...names].map((n) => `${n}:${port}`));
  const origins = new Set([...hosts].map((h) => `http://${h}`));
  return {
    refuse(req) {
      const hostHeader = req.headers.host?.toLowerCase();
      if (!hostHeader || !hosts.has(hostHeader)) return `Host "${req.headers.host ?? ''}" is not the address this studio serves`;
      const origin = req.headers.origin;
      if (origin !== undefined && !origins.has(origin.toLowerCase())) return `Origin "${origin}" is not this studio`;
      // Browsers mark requests from other sites even where they send no Origin (e.g. some GET subresources).
      const site = req.headers['sec-fetch-site'];
      if (site === 'cross-site') return 'cross-site request refused';
      return undefined;
    },
  };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
