/** One compiled session giving, for a batch of inputs, the class logit's gradient w.r.t. the input (and a tap). */
import { batchDims } from '../../image/layout.js';
import { GradientRunner, objectives } from '../../autodiff/index.js';
import type { GraftModel } from '../../models/load.js';
import { logitsTensor } from '../../models/logits.js';
import { float32 } from '../../runtime/session.js';
import { GraftError } from '../../util/errors.js';
import { addProbe, type Probe } from './probe.js';

export interface LogitGradientResult {
  /** Σ over the batch of the chosen logits. */
  objective: number;
  /** d logit / d input, in the model's input layout, batch-major. */
  inputGradient: Float32Array;
  /** Logits [batch, classes]. */
  logits: Float32Array;
  /** The tapped tensor's values and d logit / d tap (when a tap was given). */
  tap?: { values: Float32Array; gradient: Float32Array; dims: number[] };
}

const CLASS_INPUT = 'explain_class';

export class LogitGradient {
  private constructor(
    private readonly m: GraftModel,
    private readonly runner: GradientRunner,
    readonly batch: number,
    private readonly logits: string,
    private readonly tapTensor: string | undefined,
    private readonly probe: Probe | undefined,
  ) {}

  /** Compiles d logit[class] / d input for a fixed batch size, optionally also d logit / d `tap`. */
  static async create(m: GraftModel, batch: number, tap?: string): Promise<LogitGradient> {
    if (m.model.graph.nodes.some((n) => n.opType.startsWith('QLinear') || n.opType === 'DequantizeLinear')) {
      throw new GraftError('UNSUPPORTED_OP', `${m.id} is a quantised (int8) model: its QLinear ops have no gradients; use a float model`);
    }
    const inputDims = batchDims(batch, m.preprocess);
    const inputShapes = { [m.inputName]: inputDims, [CLASS_INPUT]: [batch, m.labels.length] };
    const runner = await GradientRunner.create(
      m.model,
      (b, ctx) => {
        const logits = logitsTensor(m, b, ctx.shapes());
        const target = objectives.logit(b, logits, CLASS_INPUT);
        if (!tap) return { target, keepOutputs: [logits] };
        const probe = addProbe(b, tap, ctx.shapes());
        return { target, keepOutputs: [logits, tap], wrt: [probe.input], inputShapes: { [probe.input]: probe.dims } };
      },
      { wrt: [m.inputName], inputShapes },
    );
    const added = runner.objective;
    const probe: Probe | undefined = tap ? { input: added.wrt[0], dims: added.inputShapes[added.wrt[0]] } : undefined;
    return new LogitGradient(m, runner, batch, added.keepOutputs[0], tap, probe);
  }

  /** Runs a full batch of inputs (model layout, batch-major); row i differentiates logit[classes[i]]. */
  async run(inputs: Float32Array, classes: number[]): Promise<LogitGradientResult> {
    const dims = batchDims(this.batch, this.m.preprocess);
    const n = this.m.labels.length;
    const oneHot = new Float32Array(this.batch * n);
    classes.forEach((c, i) => (oneHot[i * n + c] = 1));
    const feeds = { [this.m.inputName]: float32(inputs, dims), [CLASS_INPUT]: float32(oneHot, [this.batch, n]) };
    if (this.probe) feeds[this.probe.input] = float32(new Float32Array(this.probe.dims.reduce((a, d) => a * d, 1)), this.probe.dims);
    const r = await this.runner.run(feeds);
    const result: LogitGradientResult = { objective: r.objective, inputGradient: r.grads[this.m.inputName], logits: r.outputs[this.logits] };
    if (this.probe && this.tapTensor) result.tap = { values: r.outputs[this.tapTensor], gradient: r.grads[this.probe.input], dims: this.probe.dims };
    return result;
  }

  async release(): Promise<void> {
    await this.runner.release();
  }
}
