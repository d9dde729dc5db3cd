/** Reverse-mode autodiff over ONNX graphs: the backward pass is itself an ONNX graph run by onnxruntime. */
import type { Model } from '../onnx/types.js';
import { GraphBuilder, cloneGraph } from '../onnx/graph.js';
import { Session, asFloat32, float32 } from '../runtime/session.js';
import type { OrtTensor, SessionOptions } from '../runtime/session.js';
import { GraftError } from '../util/errors.js';
import { buildGradientModel } from './grad.js';
import type { GradientModel } from './grad.js';
import { upgradeOpset } from './opset.js';

export { buildGradientModel } from './grad.js';
export type { GradientModel, GradientOptions } from './grad.js';
export { GRADIENT_RULES } from './rules.js';
export type { GradContext, GradResult, GradRule } from './context.js';
export { upgradeOpset, GRADIENT_OPSET } from './opset.js';
export * as objectives from './objectives.js';

export interface GradientRunnerOptions {
  /** Graph inputs and/or initializers to differentiate with respect to. */
  wrt: string[];
  /** Concrete shapes of every graph input, including inputs the objective declares (e.g. target_onehot). */
  inputShapes: Record<string, number[]>;
  /** Forward tensors to return too. */
  keepOutputs?: string[];
  session?: SessionOptions;
}

export interface GradientResult {
  objective: number;
  grads: Record<string, Float32Array>;
  outputs: Record<string, Float32Array>;
}

/** One compiled gradient session: build once from (model, objective, wrt, shapes), run many times. */
export class GradientRunner {
  private constructor(
    readonly session: Session,
    readonly gradient: GradientModel,
    private readonly keep: string[],
    /** Current values of the initializers that became inputs; fed unless a run overrides them. */
    readonly params: Map<string, OrtTensor>,
  ) {}

  /**
   * Appends the objective (built on the opset-17 form of the model) and compiles the gradient graph.
   * `objective(b)` returns the name of the scalar (or summed) tensor to differentiate.
   */
  static async create(model: Model, objective: (b: GraphBuilder) => string, opts: GradientRunnerOptions): Promise<GradientRunner> {
    const upgraded = upgradeOpset(model, opts.inputShapes);
    const graph = cloneGraph(upgraded.graph);
    const target = objective(new GraphBuilder(graph));
    const gradient = buildGradientModel({ ...upgraded, graph }, { objective: target, wrt: opts.wrt, inputShapes: opts.inputShapes, keepOutputs: opts.keepOutputs });
    const params = new Map<string, OrtTensor>();
    for (const name of gradient.paramInputs) {
      const t = model.graph.initializers.get(name)!;
      if (t.dtype !== 'float32') throw new GraftError('BAD_ARGUMENT', `parameter "${name}" is ${t.dtype}; only float32 parameters can be differentiated`);
      params.set(name, float32(t.data as Float32Array, t.dims));
    }
    const session = await Session.create(gradient.model, opts.session);
    return new GradientRunner(session, gradient, opts.keepOutputs ?? [], params);
  }

  /** Runs forward + backward; feeds override the stored parameter values of the same name. */
  async run(feeds: Record<string, OrtTensor>): Promise<GradientResult> {
    const all: Record<string, OrtTensor> = {};
    for (const name of this.session.inputNames) {
      const t = feeds[name] ?? this.params.get(name);
      if (!t) throw new GraftError('BAD_ARGUMENT', `gradient run: missing input "${name}"`);
      all[name] = t;
    }
    const out = await this.session.run(all);
    const grads: Record<string, Float32Array> = {};
    for (const [wrt, name] of Object.entries(this.gradient.gradOutputs)) grads[wrt] = asFloat32(out[name]);
    const outputs: Record<string, Float32Array> = {};
    for (const name of this.keep) outputs[name] = asFloat32(out[name]);
    return { objective: asFloat32(out[this.gradient.objectiveOutput])[0], grads, outputs };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
