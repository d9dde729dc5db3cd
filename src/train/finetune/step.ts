/**
 * The training step: one gradient session (forward + backward w.r.t. the trainable initializers, fed as inputs
 * on every step), per-group optimisers (discriminative learning rates) under a schedule, and the running
 * BatchNormalization statistics updated from the batch statistics the step outputs.
 */
import { GradientRunner, objectives } from '../../autodiff/index.js';
import { inferShapes } from '../../onnx/shapes.js';
import { tensorSize } from '../../onnx/types.js';
import { float32, type OrtTensor } from '../../runtime/session.js';
import { createOptimizer, type Optimizer, type OptimizerKind } from '../../optim/optim.js';
import { parseSchedule, type LrSchedule } from '../../optim/schedule.js';
import { BN_MOMENTUM, batchStatisticsForm, type BatchNormState, type TrainableNetwork } from './network.js';

export interface StepOptions {
  batchSize: number;
  nClasses: number;
  inputDims: number[];
  optimizer: OptimizerKind;
  momentum?: number;
  weightDecay?: number;
  /** Base learning rate; each group uses lr × its lrMult × the schedule's factor. */
  lr: number;
  /** A parseSchedule spec, or the factor of each step itself (the range test's geometric sweep). */
  schedule: string | LrSchedule;
  totalSteps: number;
}

export class TrainingStep {
  private constructor(
    private readonly net: TrainableNetwork,
    private readonly opts: StepOptions,
    private readonly runner: GradientRunner,
    private readonly states: BatchNormState[],
    private readonly perChannelCount: Map<string, number>,
    private readonly schedule: LrSchedule,
    /** Trainable parameters. */
    readonly params: string[],
    /** Parameters + running statistics: every tensor the forward session takes as an input. */
    readonly fedNames: string[],
    /** Current values of fedNames (updated in place by every step). */
    readonly values: Map<string, Float32Array>,
    readonly optimizers: Optimizer[],
  ) {}

  static async create(net: TrainableNetwork, opts: StepOptions): Promise<TrainingStep> {
    const params = net.groups.flatMap((g) => g.params);
    const { model: trainModel, states } = net.batchNorm === 'batch' ? batchStatisticsForm(net.model, new Set(params)) : { model: net.model, states: [] as BatchNormState[] };
    const shapes = inferShapes(trainModel.graph, { [net.inputName]: opts.inputDims });
    const perChannelCount = new Map(states.map((s) => {
      const dims = shapes.get(s.input)?.shape as number[];
      return [s.layer, tensorSize(dims) / dims[1]];
    }));
    const runner = await GradientRunner.create(trainModel, (b) => objectives.crossEntropy(b, 'logits', 'target_onehot'), {
      wrt: params,
      inputShapes: { [net.inputName]: opts.inputDims, target_onehot: [opts.batchSize, opts.nClasses] },
      keepOutputs: ['logits', ...states.flatMap((s) => [s.batchMean, s.batchVar])],
    });
    const fedNames = [...params, ...states.flatMap((s) => [s.runningMean, s.runningVar])];
    const values = new Map(fedNames.map((name) => [name, Float32Array.from(net.model.graph.initializers.get(name)!.data as Float32Array)]));
    const optimizers = net.groups.map(() => createOptimizer(opts.optimizer, { momentum: opts.momentum, weightDecay: opts.weightDecay }));
    return new TrainingStep(net, opts, runner, states, perChannelCount, typeof opts.schedule === 'string' ? parseSchedule(opts.schedule) : opts.schedule, params, fedNames, values, optimizers);
  }

  /** Current values of `names` as runtime tensors (they share memory with `values`). */
  feeds(names: string[] = this.fedNames): Record<string, OrtTensor> {
    return Object.fromEntries(names.map((n) => [n, float32(this.values.get(n)!, this.net.model.graph.initializers.get(n)!.dims)]));
  }

  /** Learning rate of global step `step` (0-based) in epoch `epoch`. */
  lr(step: number, epoch: number): number {
    return this.opts.lr * this.schedule(step, this.opts.totalSteps, epoch);
  }

  /** One forward + backward + update on a full batch; returns the batch's logits. */
  async run(input: Float32Array, target: Float32Array, globalStep: number, epoch: number): Promise<Float32Array> {
    const { batchSize, nClasses, inputDims } = this.opts;
    const res = await this.runner.run({ [this.net.inputName]: float32(input, inputDims), target_onehot: float32(target, [batchSize, nClasses]), ...this.feeds(this.params) });
    const factor = this.schedule(globalStep, this.opts.totalSteps, epoch);
    this.net.groups.forEach((g, i) => {
      this.optimizers[i].step(g.params.map((p) => this.values.get(p)!), g.params.map((p) => res.grads[p]), this.opts.lr * g.lrMult * factor);
    });
    for (const s of this.states) updateRunningStats(this.values, s, res.outputs, this.perChannelCount.get(s.layer)!);
    return res.outputs.logits;
  }

  async release(): Promise<void> {
    await this.runner.release();
  }
}

/**
 * Fills the step's input and one-hot (label-smoothed) target from a decoded batch of `real` rows. A short batch
 * (the last one, or unreadable images) is filled up by repeating its own images: every row is a real sample.
 */
export function fillBatch(input: Float32Array, target: Float32Array, rows: Float32Array, labels: number[], batchSize: number, k: number, smoothing: number): void {
  const real = labels.length;
  const rowSize = input.length / batchSize;
  target.fill(0);
  for (let r = 0; r < batchSize; r++) {
    const src = r % real;
    input.set(rows.subarray(src * rowSize, (src + 1) * rowSize), r * rowSize);
    for (let c = 0; c < k; c++) target[r * k + c] = smoothing / k;
    target[r * k + labels[src]] += 1 - smoothing;
  }
}

/** torch BatchNorm running averages: r ← (1 − m)·r + m·batch, with the unbiased batch variance. */
function updateRunningStats(values: Map<string, Float32Array>, s: BatchNormState, outputs: Record<string, Float32Array>, count: number): void {
  const mean = values.get(s.runningMean)!;
  const variance = values.get(s.runningVar)!;
  const bm = outputs[s.batchMean];
  const bv = outputs[s.batchVar];
  const unbias = count > 1 ? count / (count - 1) : 1;
  for (let c = 0; c < mean.length; c++) {
    mean[c] = (1 - BN_MOMENTUM) * mean[c] + BN_MOMENTUM * bm[c];
    variance[c] = (1 - BN_MOMENTUM) * variance[c] + BN_MOMENTUM * bv[c] * unbias;
  }
}
