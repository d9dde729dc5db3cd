/** Reverse-mode autodiff over ONNX graphs: the backward pass is itself an ONNX graph run by onnxruntime. */
import type { Model } from '../onnx/types.js';
import { GraphBuilder, cloneGraph } from '../onnx/graph.js';
import { inferShapes, type TensorInfo } from '../onnx/shapes.js';
import { Session, asFloat32, float32, machineBusy } from '../runtime/session.js';
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
  /** Concrete shapes of the model's graph inputs (and of inputs a string-returning objective declares, e.g. target_onehot). */
  inputShapes: Record<string, number[]>;
  /** Forward tensors to return too. */
  keepOutputs?: string[];
  session?: SessionOptions;
}

/** What an objective adds to the graph besides its target, so the runner needs no state shared with the caller. */
export interface Objective {
  /** The scalar (or summed) tensor to differentiate. */
  target: string;
  /** Tensors the objective wants gradients for too (e.g. a probe input it declared). */
  wrt?: string[];
  /** Forward tensors to return too (e.g. the logits it found). */
  keepOutputs?: string[];
  /** Shapes of the graph inputs it declared. */
  inputShapes?: Record<string, number[]>;
}

/** What an objective may read while it is built: the shapes of the model's tensors, inferred once per runner. */
export interface ObjectiveContext {
  inputShapes: Readonly<Record<string, number[]>>;
  /** Shapes of the (opset-upgraded) model's tensors before the objective was appended. */
  shapes(): Map<string, TensorInfo>;
}

/** Appends an objective; returns the target tensor's name, or an Objective with what else it added. */
export type ObjectiveBuilder = (b: GraphBuilder, ctx: ObjectiveContext) => string | Objective;

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
    /** What the objective returned (target, extra wrt, outputs, input shapes). */
    readonly objective: Required<Objective>,
  ) {}

  /**
   * Appends the objective (built on the opset-17 form of a copy of the model) and compiles the gradient graph.
   * `objective(b, ctx)` returns the tensor to differentiate, or an Objective that also lists what it added.
   */
  static async create(model: Model, objective: ObjectiveBuilder, opts: GradientRunnerOptions): Promise<GradientRunner> {
    // The opset is upgraded here, once; buildGradientModel then finds the model at opset 17 and leaves it as is.
    const upgraded = upgradeOpset(model, opts.inputShapes);
    const graph = cloneGraph(upgraded.graph);
    let shapes: Map<string, TensorInfo> | undefined;
    const context: ObjectiveContext = { inputShapes: opts.inputShapes, shapes: () => (shapes ??= inferShapes(upgraded.graph, opts.inputShapes)) };
    const built = objective(new GraphBuilder(graph), context);
    const added = typeof built === 'string' ? { target: built } : built;
    const parts: Required<Objective> = { target: added.target, wrt: added.wrt ?? [], keepOutputs: added.keepOutputs ?? [], inputShapes: added.inputShapes ?? {} };
    const wrt = [...opts.wrt, ...parts.wrt];
    const keepOutputs = [...(opts.keepOutputs ?? []), ...parts.keepOutputs];
    const inputShapes = { ...opts.inputShapes, ...parts.inputShapes };
    const gradient = buildGradientModel({ ...upgraded, graph }, { objective: parts.target, wrt, inputShapes, keepOutputs });
    const params = new Map<string, OrtTensor>();
    for (const name of gradient.paramInputs) {
      const t = model.graph.initializers.get(name)!;
      if (t.dtype !== 'float32') throw new GraftError('BAD_ARGUMENT', `parameter "${name}" is ${t.dtype}; only float32 parameters can be differentiated`);
      params.set(name, float32(t.data as Float32Array, t.dims));
    }
    const session = await Session.create(gradient.model, { spinning: !machineBusy(), ...opts.session });
    return new GradientRunner(session, gradient, keepOutputs, params, parts);
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
