/**
 * One progress abstraction for every long loop: the library emits events through a ProgressSink,
 * the CLI draws bars (see cli/progress.ts), tests pass nothing.
 */
export interface ProgressEvent {
  /** What is being done, e.g. "extract features" or "download resnet50". */
  label: string;
  done: number;
  /** Undefined when the total is unknown (e.g. a download without Content-Length). */
  total?: number;
  /** Unit of done/total: "img", "B", "step", "epoch"... */
  unit?: string;
  /** Extra short status shown after the bar, e.g. "loss 0.231". */
  status?: string;
}

export interface ProgressSink {
  start(label: string, total: number | undefined, unit?: string): ProgressTask;
}

export interface ProgressTask {
  update(done: number, status?: string): void;
  increment(by?: number, status?: string): void;
  finish(status?: string): void;
}

const silentTask: ProgressTask = { update() {}, increment() {}, finish() {} };
export const silentProgress: ProgressSink = { start: () => silentTask };

/** Returns the sink to use: the caller's, or a silent one. */
export function progressOrSilent(sink?: ProgressSink): ProgressSink {
  return sink ?? silentProgress;
}
