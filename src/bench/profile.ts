/**
 * Per-op breakdown of an onnxruntime profile (the Chrome-trace JSON a session created with `profilePrefix`
 * writes): kernel time summed per op type, split into forward and backward nodes, averaged over the profiled runs.
 */
import fs from 'node:fs';
import { GraftError } from '../util/errors.js';

export interface OpTime {
  /** Op type, with the role of a gradient node when its name carries one (e.g. "Conv dW", "ConvTranspose dX"). */
  op: string;
  phase: 'forward' | 'backward';
  /** Mean kernel milliseconds per run. */
  ms: number;
  /** Share of all kernel time. */
  share: number;
  /** Nodes of this kind per run. */
  nodes: number;
}

export interface Profile {
  runs: number;
  /** Mean kernel milliseconds per run, all nodes. */
  kernelMs: number;
  ops: OpTime[];
}

interface TraceEvent {
  cat?: string;
  name?: string;
  dur?: number;
  args?: { op_name?: string };
}

/** Gradient rules name some nodes `<forward node>/<role>`; these roles are reported as their own rows. */
const ROLES = ['dX', 'dW'];

/**
 * Aggregates a trace file. `isForward(node)` says whether a node name belongs to the forward graph;
 * `runs` is how many session runs the trace covers (the mean per run is reported).
 */
export function summariseProfile(file: string, isForward: (node: string) => boolean, runs: number): Profile {
  let events: TraceEvent[];
  try {
    events = JSON.parse(fs.readFileSync(file, 'utf8')) as TraceEvent[];
  } catch (err) {
    throw new GraftError('RUNTIME', `cannot read the onnxruntime profile ${file}`, { cause: err });
  }
  const rows = new Map<string, { op: string; phase: OpTime['phase']; us: number; nodes: Set<string> }>();
  let total = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || !e.args?.op_name) continue;
    const node = e.name.slice(0, -'_kernel_time'.length);
    const role = ROLES.find((r) => node.endsWith(`/${r}`) || node.includes(`/${r}_`));
    const op = role ? `${e.args.op_name} ${role}` : e.args.op_name;
    const phase = isForward(node) ? 'forward' : 'backward';
    const key = `${phase}:${op}`;
    let row = rows.get(key);
    if (!row) rows.set(key, (row = { op, phase, us: 0, nodes: new Set() }));
    row.us += e.dur ?? 0;
    row.nodes.add(node);
    total += e.dur ?? 0;
  }
  const ops = [...rows.values()]
    .map((r) => ({ op: r.op, phase: r.phase, ms: r.us / 1000 / runs, share: total ? r.us / total : 0, nodes: r.nodes.size }))
    .sort((a, b) => b.ms - a.ms);
  return { runs, kernelMs: total / 1000 / runs, ops };
}
