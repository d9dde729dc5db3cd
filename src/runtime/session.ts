/** onnxruntime-node sessions: one place that creates, caches and runs them. */
import os from 'node:os';
import './no-telemetry.js';
import ort from 'onnxruntime-node';
import type { Model } from '../onnx/types.js';
import { encodeModel } from '../onnx/codec.js';
import { GraftError, errorMessage } from '../util/errors.js';

export type OrtTensor = ort.Tensor;
export { ort };

export interface SessionOptions {
  /** intra-op threads; default: number of cores. */
  threads?: number;
  /** onnxruntime graph-optimisation level (default 'all'). */
  optimization?: 'all' | 'extended' | 'basic' | 'disabled';
  /** Per-node profiling: onnxruntime writes a Chrome-trace JSON named `<profilePrefix>_<date>.json` on endProfiling(). */
  profilePrefix?: string;
  /** Reuse one memory plan across runs of the same shapes (default true). */
  memoryPattern?: boolean;
  /** onnxruntime's CPU arena allocator (default true). */
  cpuArena?: boolean;
  /**
   * Whether idle intra-op threads spin between ops (onnxruntime's default) or sleep. GRAFT_SPIN=0/1 overrides.
   * Spinning wins on an idle machine (5–12 % on gradient sessions here); on an oversubscribed one a spinning
   * worker that loses its core stalls every op, and sleeping ran 1.4–2× faster. Gradient sessions (about a
   * thousand ops per run) pick with machineBusy(); inference keeps onnxruntime's default.
   */
  spinning?: boolean;
}

/** A compiled graph with typed run(). Create with Session.create(model) and reuse it. */
export class Session {
  private constructor(readonly ort: ort.InferenceSession, readonly inputNames: readonly string[], readonly outputNames: readonly string[]) {}

  static async create(model: Model | Uint8Array | string, opts: SessionOptions = {}): Promise<Session> {
    const bytesOrPath = typeof model === 'string' || model instanceof Uint8Array ? model : encodeModel(model);
    const spin = process.env.GRAFT_SPIN || (opts.spinning === undefined ? undefined : opts.spinning ? '1' : '0');
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: opts.threads ?? defaultThreads(),
      interOpNumThreads: 1,
      graphOptimizationLevel: opts.optimization ?? 'all',
      executionMode: 'sequential',
      enableMemPattern: opts.memoryPattern ?? true,
      enableCpuMemArena: opts.cpuArena ?? true,
      ...(opts.profilePrefix ? { enableProfiling: true, profileFilePrefix: opts.profilePrefix } : {}),
      ...(spin === undefined ? {} : { extra: { session: { intra_op: { allow_spinning: spin } } } }),
    };
    try {
      const s = typeof bytesOrPath === 'string'
        ? await ort.InferenceSession.create(bytesOrPath, options)
        : await ort.InferenceSession.create(bytesOrPath, options);
      return new Session(s, s.inputNames, s.outputNames);
    } catch (err) {
      throw new GraftError('RUNTIME', `onnxruntime could not load the model: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Runs with float32 (or other typed) feeds; returns the requested outputs (default: all). */
  async run(feeds: Record<string, ort.Tensor>, outputs?: string[]): Promise<Record<string, ort.Tensor>> {
    try {
      return await this.ort.run(feeds, outputs ?? (this.outputNames as string[]));
    } catch (err) {
      throw new GraftError('RUNTIME', `onnxruntime run failed: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Stops profiling (sessions created with profilePrefix) and writes the trace file. */
  endProfiling(): void {
    this.ort.endProfiling();
  }

  async release(): Promise<void> {
    await this.ort.release();
  }
}

/** More runnable threads than cores over the last minute (1-minute load average ≥ core count): other work competes for the cores. */
export function machineBusy(): boolean {
  return os.loadavg()[0] >= (os.availableParallelism?.() ?? os.cpus().length);
}

export function defaultThreads(): number {
  const env = Number(process.env.GRAFT_THREADS);
  if (env > 0) return env;
  return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}

export function float32(data: Float32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

export function int64(values: readonly number[], dims: readonly number[] = [values.length]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), dims);
}

/** The tensor's data as Float32Array (throws on other types). */
export function asFloat32(t: ort.Tensor): Float32Array {
  if (t.type !== 'float32') throw new GraftError('RUNTIME', `expected a float32 tensor, got ${t.type}`);
  return t.data as Float32Array;
}
