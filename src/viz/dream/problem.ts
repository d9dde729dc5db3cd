/**
 * One compiled dream problem: parameterisation → random transforms → network input → ONNX loss, and the chain
 * back: ONNX input gradient → transform adjoints → parameterisation adjoint.
 */
import { batchDims } from '../../image/layout.js';
import { GradientRunner } from '../../autodiff/index.js';
import type { GraftModel } from '../../models/load.js';
import { logitsTensor } from '../../models/logits.js';
import { float32 } from '../../runtime/session.js';
import { GraftError } from '../../util/errors.js';
import type { ImageParam } from './param/param.js';
import { fromLayout, toLayout } from '../../image/layout.js';
import type { DreamObjective } from './objective/objective.js';
import type { AppliedTransform } from './transform/transform.js';

export interface Evaluation {
  loss: number;
  /** Gradient of the loss w.r.t. the parameterisation's parameters. */
  grad: Float32Array;
  /** Logits [C] of the transformed image the network saw. */
  logits: Float32Array;
}

export class DreamProblem {
  private constructor(
    readonly model: GraftModel,
    private readonly runner: GradientRunner,
    private readonly objective: DreamObjective,
    private readonly logits: string,
  ) {}

  /** Compiles the gradient session for `objective` at batch 1. */
  static async create(m: GraftModel, objective: DreamObjective): Promise<DreamProblem> {
    const inputDims = batchDims(1, m.preprocess);
    const feedShapes = Object.fromEntries(Object.entries(objective.feeds).map(([name, feed]) => [name, feed.dims]));
    const runner = await GradientRunner.create(
      m.model,
      (b, ctx) => {
        const logits = logitsTensor(m, b, ctx.shapes());
        return { target: objective.build(b, m.inputName, ctx), keepOutputs: [logits], inputShapes: feedShapes };
      },
      { wrt: [m.inputName], inputShapes: { [m.inputName]: inputDims } },
    );
    return new DreamProblem(m, runner, objective, runner.objective.keepOutputs[0]);
  }

  /** Loss and parameter gradient for the current parameters under one draw of the transforms. */
  async evaluate(param: ImageParam, transform: AppliedTransform): Promise<Evaluation> {
    const { layout, size } = this.model.preprocess;
    const input = transform.forward(param.render());
    if (input.height !== size[0] || input.width !== size[1]) {
      throw new GraftError('SHAPE', `dream: transformed image is ${input.height}×${input.width}, the network wants ${size[0]}×${size[1]}`);
    }
    const result = await this.runTensor(toLayout(input, layout));
    const gradInput = fromLayout(result.gradient, layout, 3, size[0], size[1]);
    return { loss: result.loss, grad: param.backward(transform.backward(gradInput)), logits: result.logits };
  }

  /** Loss, input gradient and logits for one network input tensor (no batch axis). */
  async runTensor(tensor: Float32Array): Promise<{ loss: number; gradient: Float32Array; logits: Float32Array }> {
    const feeds = { [this.model.inputName]: float32(tensor, batchDims(1, this.model.preprocess)) };
    for (const [name, feed] of Object.entries(this.objective.feeds)) feeds[name] = float32(feed.data, feed.dims);
    const r = await this.runner.run(feeds);
    return { loss: r.objective, gradient: r.grads[this.model.inputName], logits: r.outputs[this.logits] };
  }

  async release(): Promise<void> {
    await this.runner.release();
  }
}
