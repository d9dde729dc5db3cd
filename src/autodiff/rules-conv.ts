/**
 * Gradient rules of convolution and pooling: Conv, ConvTranspose, MaxPool, AveragePool and the global pools.
 * The table that maps op types to rules is in rules.ts.
 */
import type { GraphBuilder } from '../onnx/graph.js';
import type { Node } from '../onnx/types.js';
import { attr, tensorSize } from '../onnx/types.js';
import { convSpatial, poolOut } from '../onnx/shapes.js';
import { intAttr, intsAttr, stringAttr } from '../onnx/types.js';
import type { GradContext, GradResult } from './context.js';
import { unsupported } from './context.js';
import { filled, mulScalar, range, reduceSum, reshape, sameShape, transpose, transposeLast2 } from './emit.js';

// ---------------------------------------------------------------- convolution

interface ConvGeometry {
  rank: number;
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  group: number;
}

function convGeometry(node: Node, xShape: number[], kernel: number[]): ConvGeometry {
  const rank = xShape.length - 2;
  return {
    rank,
    kernel,
    strides: intsAttr(node, 'strides') ?? Array(rank).fill(1),
    dilations: intsAttr(node, 'dilations') ?? Array(rank).fill(1),
    pads: convSpatial(node, xShape.slice(2), kernel).pads,
    group: intAttr(node, 'group', 1),
  };
}

/**
 * Weight gradient of a (grouped) convolution as one Conv: the batch becomes the channel axis.
 * `src` [N, Cin, ...] is convolved with `kern` [N, Cout, ...] used as a kernel that moves with stride
 * `dilations` and is dilated by `strides`; the result [Cin/g, Cout, k', ...] is cropped to `kernel`
 * and transposed to [Cout, Cin/g, ...kernel]. Conv and ConvTranspose weight gradients are both this.
 */
function weightGradConv(b: GraphBuilder, src: string, srcShape: number[], kern: string, kernShape: number[], geo: ConvGeometry, resultSpatial: number[], name: string): string {
  const { rank, group: g } = geo;
  const [n, cin] = srcShape;
  const cout = kernShape[1];
  const spatialAxes = range(rank + 2, 2);
  let s: string;
  let k: string;
  if (g === 1) {
    s = transpose(b, src, [1, 0, ...spatialAxes]);
    k = transpose(b, kern, [1, 0, ...spatialAxes]);
  } else {
    s = reshape(b, src, [n, g, cin / g, ...srcShape.slice(2)]);
    s = transpose(b, s, [2, 1, 0, ...range(rank + 3, 3)]);
    s = reshape(b, s, [cin / g, g * n, ...srcShape.slice(2)]);
    k = reshape(b, kern, [n, g, cout / g, ...kernShape.slice(2)]);
    k = transpose(b, k, [1, 2, 0, ...range(rank + 3, 3)]);
    k = reshape(b, k, [cout, n, ...kernShape.slice(2)]);
  }
  let dw = b.op('Conv', [s, k], {
    strides: attr.ints(geo.dilations),
    dilations: attr.ints(geo.strides),
    pads: attr.ints(geo.pads),
    group: attr.i(g),
  }, name);
  if (!sameShape(resultSpatial, geo.kernel)) {
    dw = b.op('Slice', [dw, b.constInt64('starts', geo.kernel.map(() => 0)), b.constInt64('ends', geo.kernel), b.constInt64('axes', spatialAxes)]);
  }
  return transpose(b, dw, [1, 0, ...spatialAxes]);
}

/** Spatial size of the weight-gradient convolution before cropping to the kernel. */
function weightGradSpatial(paddedIn: number[], kernExtent: number[], geo: ConvGeometry): number[] {
  return paddedIn.map((p, i) => Math.floor((p - kernExtent[i]) / geo.dilations[i]) + 1);
}

/**
 * Input gradient of a convolution. With stride 1 it is a convolution of dy with the flipped, group-wise
 * transposed kernel (onnxruntime runs Conv far faster than ConvTranspose, and folds the kernel shuffle
 * when the weight is constant); otherwise a ConvTranspose whose output_padding restores the rows the
 * forward stride skipped.
 */
function convInputGrad(b: GraphBuilder, dy: string, w: string, ws: number[], xs: number[], ys: number[], geo: ConvGeometry, name: string): string {
  const { rank, kernel, strides, dilations, pads, group } = geo;
  const reach = kernel.map((k, i) => (k - 1) * dilations[i]);
  const flippedPads = [...reach, ...reach].map((r, i) => r - pads[i]);
  if (strides.every((s) => s === 1) && flippedPads.every((p) => p >= 0)) {
    const spatialAxes = range(rank + 2, 2);
    const [m, cg] = ws;
    const mg = m / group;
    let kern: string;
    if (group === 1) kern = transpose(b, w, [1, 0, ...spatialAxes]);
    else if (cg === 1 || mg === 1) kern = reshape(b, w, [cg * group, mg, ...kernel]);
    else {
      kern = reshape(b, w, [group, mg, cg, ...kernel]);
      kern = transpose(b, kern, [0, 2, 1, ...range(rank + 3, 3)]);
      kern = reshape(b, kern, [cg * group, mg, ...kernel]);
    }
    const flip = b.op('Slice', [kern, b.constInt64('starts', kernel.map(() => -1)), b.constInt64('ends', kernel.map((k) => -k - 1)), b.constInt64('axes', spatialAxes), b.constInt64('steps', kernel.map(() => -1))]);
    return b.op('Conv', [dy, flip], { kernel_shape: attr.ints(kernel), dilations: attr.ints(dilations), pads: attr.ints(flippedPads), group: attr.i(group) }, name);
  }
  const paddedIn = xs.slice(2).map((d, i) => d + pads[i] + pads[i + rank]);
  const outputPadding = paddedIn.map((p, i) => p - ((ys[2 + i] - 1) * strides[i] + reach[i] + 1));
  return b.op('ConvTranspose', [dy, w], {
    kernel_shape: attr.ints(kernel),
    strides: attr.ints(strides),
    dilations: attr.ints(dilations),
    pads: attr.ints(pads),
    group: attr.i(group),
    output_padding: attr.ints(outputPadding),
  }, name);
}

/** A 1×1, stride-1, unpadded, ungrouped convolution: a matrix product per image over the spatial positions. */
function isPointwise(geo: ConvGeometry): boolean {
  return geo.group === 1 && geo.kernel.every((k) => k === 1) && geo.strides.every((s) => s === 1) && geo.pads.every((p) => p === 0);
}

/**
 * dW of a pointwise convolution as Σₙ dYₙ·Xₙᵀ ([Cout, P] × [P, Cin]) — one batched MatMul. The general
 * weightGradConv turns it into Cin matrix-vector products, several times slower (MobileNet's conv_pw, ResNet 1×1s).
 */
function pointwiseWeightGrad(b: GraphBuilder, x: string, xs: number[], dy: string, ys: number[]): string {
  const [n, cin] = xs;
  const cout = ys[1];
  const positions = tensorSize(xs.slice(2));
  const perImage = b.op('MatMul', [reshape(b, dy, [n, cout, positions]), transposeLast2(b, reshape(b, x, [n, cin, positions]), 3)]);
  return reshape(b, reduceSum(b, perImage, [0], false), [cout, cin, ...xs.slice(2).map(() => 1)]);
}

/** Every kernel offset (tap) of a kernel shape, in row-major order. */
function kernelTaps(kernel: number[]): number[][] {
  let taps: number[][] = [[]];
  for (const k of kernel) taps = taps.flatMap((t) => Array.from({ length: k }, (_, i) => [...t, i]));
  return taps;
}

/** The forward input padded like the convolution pads it (unchanged when unpadded). */
function padLikeConv(b: GraphBuilder, x: string, geo: ConvGeometry): string {
  if (geo.pads.every((p) => p === 0)) return x;
  const { rank, pads } = geo;
  return b.op('Pad', [x, b.constInt64('pads', [0, 0, ...pads.slice(0, rank), 0, 0, ...pads.slice(rank)])]);
}

/** The window of a padded input that kernel tap `tap` sees, over `axes` (the spatial axes of that tensor). */
function tapWindow(b: GraphBuilder, padded: string, tap: number[], out: number[], geo: ConvGeometry, axes: number[], name: string): string {
  const starts = tap.map((t, i) => t * geo.dilations[i]);
  const ends = starts.map((st, i) => st + (out[i] - 1) * geo.strides[i] + 1);
  return b.op('Slice', [padded, b.constInt64('starts', starts), b.constInt64('ends', ends), b.constInt64('axes', axes), b.constInt64('steps', geo.strides)], {}, name);
}

/**
 * dW of an ungrouped convolution one kernel tap at a time: dW[:, :, tap] = dY·X_tapᵀ, one [Cout, N·P] × [N·P, Cin]
 * matrix product per tap, where X_tap is the (strided) window of the padded input that tap sees. This is an
 * explicit im2col split by tap: each product is a large, well-shaped GEMM, whereas weightGradConv hands MLAS a
 * convolution whose "kernel" is the whole output map (huge K, tiny N), which it runs several times slower.
 */
function tapwiseWeightGrad(b: GraphBuilder, x: string, xs: number[], dy: string, ys: number[], geo: ConvGeometry, name: string): string {
  const { rank, kernel } = geo;
  const [n, cin] = xs;
  const cout = ys[1];
  const out = ys.slice(2);
  const positions = n * tensorSize(out);
  const spatial = range(rank + 2, 2);
  const channelsFirst = transpose(b, padLikeConv(b, x, geo), [1, 0, ...spatial]);
  const dyRows = reshape(b, transpose(b, dy, [1, 0, ...spatial]), [cout, positions]);
  const taps = kernelTaps(kernel).map((tap) => {
    const window = reshape(b, tapWindow(b, channelsFirst, tap, out, geo, spatial, `${name}_window`), [cin, positions]);
    return reshape(b, b.op('MatMul', [dyRows, transpose(b, window, [1, 0])], {}, `${name}_tap`), [cout, cin, 1]);
  });
  return reshape(b, taps.length === 1 ? taps[0] : b.op('Concat', taps, { axis: attr.i(2) }), [cout, cin, ...kernel]);
}

/**
 * dW of a depthwise convolution (one input channel per group, one output per group) as a depthwise im2col:
 * with channels first, the windows each kernel tap sees are stacked into [C, taps, N·P], and one batched
 * MatMul with dY as [C, N·P, 1] gives dW[c, 0, tap]. The grouped-conv form runs a convolution per channel
 * with the whole output map as its kernel.
 */
function depthwiseWeightGrad(b: GraphBuilder, x: string, dy: string, ys: number[], geo: ConvGeometry, name: string): string {
  const { rank, kernel } = geo;
  const c = ys[1];
  const out = ys.slice(2);
  const positions = ys[0] * tensorSize(out);
  const spatial = range(rank + 2, 2);
  const channelsFirst = transpose(b, padLikeConv(b, x, geo), [1, 0, ...spatial]);
  const taps = kernelTaps(kernel).map((tap) => reshape(b, tapWindow(b, channelsFirst, tap, out, geo, spatial, `${name}_window`), [c, 1, positions]));
  const columns = taps.length === 1 ? taps[0] : b.op('Concat', taps, { axis: attr.i(1) });
  const dyColumn = reshape(b, transpose(b, dy, [1, 0, ...spatial]), [c, positions, 1]);
  return reshape(b, b.op('MatMul', [columns, dyColumn], {}, `${name}_taps`), [c, 1, ...kernel]);
}

/**
 * The convolution windows of every (image, channel) plane of `x` [N, C, …]: a Conv of each plane with constant
 * one-hot kernels, one per tap, so onnxruntime's multithreaded im2col does the gathering. Shape [N·C, taps, …P].
 */
function im2colWindows(b: GraphBuilder, x: string, xs: number[], geo: ConvGeometry, name: string): string {
  const { kernel } = geo;
  const taps = tensorSize(kernel);
  const onehot = new Float32Array(taps * taps);
  for (let t = 0; t < taps; t++) onehot[t * taps + t] = 1;
  const kern = b.initializer({ name: b.name('onehot_taps'), dtype: 'float32', dims: [taps, 1, ...kernel], data: onehot });
  const planes = reshape(b, x, [xs[0] * xs[1], 1, ...xs.slice(2)]);
  return b.op('Conv', [planes, kern], { kernel_shape: attr.ints(kernel), strides: attr.ints(geo.strides), dilations: attr.ints(geo.dilations), pads: attr.ints(geo.pads) }, `${name}_windows`);
}

/**
 * dW of a depthwise convolution for large maps: onnxruntime's own im2col. Each (image, channel) plane is one
 * single-channel image convolved with constant one-hot kernels, one per tap, which yields all tap windows
 * [N·C, taps, P] in one multithreaded Conv; a batched MatMul with dY [N·C, P, 1] and a sum over the batch give
 * dW. On 56×56 and larger maps (and strided layers) it ran 1.4–4× faster than slicing and concatenating the
 * windows (scratch micro-benchmarks, MobileNet v1 0.75 shapes, batch 16).
 */
function depthwiseIm2colWeightGrad(b: GraphBuilder, x: string, xs: number[], dy: string, ys: number[], geo: ConvGeometry, name: string): string {
  const { kernel } = geo;
  const [n, c] = xs;
  const taps = tensorSize(kernel);
  const positions = tensorSize(ys.slice(2));
  const windows = im2colWindows(b, x, xs, geo, name);
  const perImage = b.op('MatMul', [reshape(b, windows, [n * c, taps, positions]), reshape(b, dy, [n * c, positions, 1])], {}, `${name}_taps`);
  return reshape(b, reduceSum(b, reshape(b, perImage, [n, c * taps]), [0], false), [c, 1, ...kernel]);
}

/**
 * dW of a depthwise convolution for small maps, one tap at a time in NCHW: Σ over batch and positions of
 * window·dY, a Mul and a ReduceSum per tap (no transposes, no concatenation of windows).
 */
function depthwiseTapSumWeightGrad(b: GraphBuilder, x: string, dy: string, ys: number[], geo: ConvGeometry, name: string): string {
  const { rank, kernel } = geo;
  const c = ys[1];
  const spatial = range(rank + 2, 2);
  const padded = padLikeConv(b, x, geo);
  const taps = kernelTaps(kernel).map((tap) => {
    const product = b.op('Mul', [tapWindow(b, padded, tap, ys.slice(2), geo, spatial, `${name}_window`), dy], {}, `${name}_tap`);
    return reshape(b, reduceSum(b, product, [0, ...spatial], false), [c, 1]);
  });
  return reshape(b, taps.length === 1 ? taps[0] : b.op('Concat', taps, { axis: attr.i(1) }), [c, 1, ...kernel]);
}

/**
 * dW of an ungrouped convolution on a large map, per image: onnxruntime's im2col (a Conv of each (image, channel)
 * plane with constant one-hot kernels) gives the windows [N, Cin·taps, P] without transposing or slicing the input;
 * one batched MatMul dY [N, Cout, P] × windowsᵀ and a sum over the batch give [Cout, Cin·taps], already dW's layout.
 * The per-image products [N, Cout, Cin·taps] are only small next to the windows when P ≫ Cout (early layers).
 */
function im2colWeightGrad(b: GraphBuilder, x: string, xs: number[], dy: string, ys: number[], geo: ConvGeometry, name: string): string {
  const { kernel } = geo;
  const [n, cin] = xs;
  const cout = ys[1];
  const taps = tensorSize(kernel);
  const positions = tensorSize(ys.slice(2));
  const windows = im2colWindows(b, x, xs, geo, name);
  const perImage = b.op('MatMul', [reshape(b, dy, [n, cout, positions]), transposeLast2(b, reshape(b, windows, [n, cin * taps, positions]), 3)], {}, `${name}_taps`);
  return reshape(b, reduceSum(b, perImage, [0], false), [cout, cin, ...kernel]);
}

type WeightGradForm = 'pointwise' | 'tapwise' | 'im2col' | 'depthwise' | 'depthwise-im2col' | 'depthwise-tapsum' | 'conv';

/** Which weight-gradient form a convolution gets (GRAFT_DW overrides it, for same-run comparisons). */
function weightGradForm(geo: ConvGeometry, ws: number[], xs: number[], ys: number[]): WeightGradForm {
  const forced = process.env.GRAFT_DW;
  const depthwise = geo.group > 1 && ws[1] === 1 && ws[0] === geo.group;
  if (isPointwise(geo)) return 'pointwise';
  if (forced === 'conv') return 'conv';
  if (geo.group === 1) {
    if (forced === 'tapwise' || forced === 'im2col') return forced;
    return tensorSize(ys.slice(2)) >= 4 * ys[1] ? 'im2col' : 'tapwise';
  }
  if (!depthwise || forced === 'depthwise-conv') return 'conv';
  if (forced === 'depthwise' || forced === 'depthwise-im2col' || forced === 'depthwise-tapsum') return forced;
  const large = tensorSize(xs.slice(2)) >= 56 * 56 || geo.strides.some((st) => st > 1);
  return large ? 'depthwise-im2col' : 'depthwise-tapsum';
}

export function conv(ctx: GradContext): GradResult {
  const { b, node, needs } = ctx;
  const dy = ctx.dy[0];
  if (!dy) return [];
  const [x, w, bias] = node.inputs;
  const xs = ctx.shape(x);
  const ws = ctx.shape(w);
  const ys = ctx.shape(node.outputs[0]);
  const geo = convGeometry(node, xs, ws.slice(2));
  const { rank, strides, pads } = geo;
  const paddedIn = xs.slice(2).map((d, i) => d + pads[i] + pads[i + rank]);
  const grads: (string | undefined)[] = [];
  if (needs[0]) grads[0] = convInputGrad(b, dy, w, ws, xs, ys, geo, `${node.name}/dX`);
  if (needs[1]) {
    const extent = ys.slice(2).map((o, i) => (o - 1) * strides[i] + 1);
    const name = `${node.name}/dW`;
    const form = weightGradForm(geo, ws, xs, ys);
    grads[1] = form === 'pointwise' ? pointwiseWeightGrad(b, x, xs, dy, ys)
      : form === 'tapwise' ? tapwiseWeightGrad(b, x, xs, dy, ys, geo, name)
        : form === 'im2col' ? im2colWeightGrad(b, x, xs, dy, ys, geo, name)
        : form === 'depthwise' ? depthwiseWeightGrad(b, x, dy, ys, geo, name)
          : form === 'depthwise-im2col' ? depthwiseIm2colWeightGrad(b, x, xs, dy, ys, geo, name)
            : form === 'depthwise-tapsum' ? depthwiseTapSumWeightGrad(b, x, dy, ys, geo, name)
              : weightGradConv(b, x, xs, dy, ys, geo, weightGradSpatial(paddedIn, extent, geo), name);
  }
  if (bias && needs[2]) grads[2] = reduceSum(b, dy, [0, ...range(rank + 2, 2)], false);
  return grads;
}

export function convTranspose(ctx: GradContext): GradResult {
  const { b, node, needs } = ctx;
  const dy = ctx.dy[0];
  if (!dy) return [];
  if (intsAttr(node, 'output_shape') || stringAttr(node, 'auto_pad', 'NOTSET') !== 'NOTSET') {
    unsupported(ctx, 'output_shape or auto_pad (give explicit pads and output_padding)');
  }
  const [x, w, bias] = node.inputs;
  const xs = ctx.shape(x);
  const ws = ctx.shape(w);
  const ys = ctx.shape(node.outputs[0]);
  const rank = xs.length - 2;
  const geo: ConvGeometry = {
    rank,
    kernel: ws.slice(2),
    strides: intsAttr(node, 'strides') ?? Array(rank).fill(1),
    dilations: intsAttr(node, 'dilations') ?? Array(rank).fill(1),
    pads: intsAttr(node, 'pads') ?? Array(2 * rank).fill(0),
    group: intAttr(node, 'group', 1),
  };
  const grads: (string | undefined)[] = [];
  if (needs[0]) {
    // The adjoint of a transposed convolution is the convolution with the same weight; output_padding only adds rows it ignores.
    grads[0] = b.op('Conv', [dy, w], {
      kernel_shape: attr.ints(geo.kernel),
      strides: attr.ints(geo.strides),
      dilations: attr.ints(geo.dilations),
      pads: attr.ints(geo.pads),
      group: attr.i(geo.group),
    });
  }
  if (needs[1]) {
    // dW[c, m] correlates dY (padded like the forward output) with X dilated by the stride; result [Mg, C, k'] → [C, Mg, k].
    const paddedOut = ys.slice(2).map((d, i) => d + geo.pads[i] + geo.pads[i + rank]);
    const extent = xs.slice(2).map((d, i) => (d - 1) * geo.strides[i] + 1);
    grads[1] = weightGradConv(b, dy, ys, x, xs, geo, weightGradSpatial(paddedOut, extent, geo), `${node.name}/dW`);
  }
  if (bias && needs[2]) grads[2] = reduceSum(b, dy, [0, ...range(rank + 2, 2)], false);
  return grads;
}

// ---------------------------------------------------------------- pooling

/** MaxPool: recompute the argmax indices and scatter-add dy there (windows may overlap). */
export function maxPool(ctx: GradContext): GradResult {
  const { b, node } = ctx;
  const dy = ctx.dy[0];
  if (!dy) return [];
  const x = node.inputs[0];
  const xs = ctx.shape(x);
  const [, indices] = b.node('MaxPool', [x], { ...node.attributes, storage_order: attr.i(0) }, { outputs: 2 });
  const flat = b.op('ScatterElements', [filled(b, [tensorSize(xs)], 0), reshape(b, indices, [-1]), reshape(b, dy, [-1])], { axis: attr.i(0), reduction: attr.s('add') });
  return [reshape(b, flat, xs)];
}

/**
 * AveragePool: scale dy by 1/window-count, then spread it over each window with a depthwise ConvTranspose
 * of ones; the result is cropped or zero-extended to the input size (ceil mode windows may overhang).
 */
export function averagePool(ctx: GradContext): GradResult {
  const { b, node } = ctx;
  const dy = ctx.dy[0];
  if (!dy) return [];
  const x = node.inputs[0];
  const xs = ctx.shape(x);
  const rank = xs.length - 2;
  const kernel = intsAttr(node, 'kernel_shape')!;
  if ((intsAttr(node, 'dilations') ?? []).some((d) => d !== 1)) unsupported(ctx, 'dilations');
  const strides = intsAttr(node, 'strides') ?? Array(rank).fill(1);
  const { pads } = convSpatial(node, xs.slice(2), kernel);
  const ceil = intAttr(node, 'ceil_mode', 0) === 1;
  const includePad = intAttr(node, 'count_include_pad', 0) === 1;
  const outLens = xs.slice(2).map((d, i) => poolOut(d, kernel[i], strides[i], pads[i], pads[i] + pads[i + rank], 1, ceil) as number);
  // Window counts are separable: the count of a window is the product of its per-axis extents.
  const perAxis = outLens.map((len, i) => Array.from({ length: len }, (_, o) => {
    const start = o * strides[i] - pads[i];
    const end = start + kernel[i];
    const lo = includePad ? start : Math.max(start, 0);
    const hi = includePad ? Math.min(end, xs[2 + i] + pads[i + rank]) : Math.min(end, xs[2 + i]);
    return hi - lo;
  }));
  const inv = new Float32Array(tensorSize(outLens));
  inv.forEach((_, flatIndex) => {
    let rest = flatIndex;
    let count = 1;
    for (let i = rank - 1; i >= 0; i--) {
      count *= perAxis[i][rest % outLens[i]];
      rest = Math.floor(rest / outLens[i]);
    }
    inv[flatIndex] = 1 / count;
  });
  const invName = b.initializer({ name: b.name('inv_window_count'), dtype: 'float32', dims: [1, 1, ...outLens], data: inv });
  const channels = xs[1];
  const ones = b.initializer({ name: b.name('ones_kernel'), dtype: 'float32', dims: [channels, 1, ...kernel], data: new Float32Array(channels * tensorSize(kernel)).fill(1) });
  const spread = b.op('ConvTranspose', [b.op('Mul', [dy, invName]), ones], {
    kernel_shape: attr.ints(kernel),
    strides: attr.ints(strides),
    pads: attr.ints([...pads.slice(0, rank), ...Array(rank).fill(0)]),
    group: attr.i(channels),
  });
  const produced = outLens.map((o, i) => strides[i] * (o - 1) + kernel[i] - pads[i]);
  let g = spread;
  const spatialAxes = range(rank + 2, 2);
  if (produced.some((p, i) => p > xs[2 + i])) {
    g = b.op('Slice', [g, b.constInt64('starts', Array(rank).fill(0)), b.constInt64('ends', produced.map((p, i) => Math.min(p, xs[2 + i]))), b.constInt64('axes', spatialAxes)]);
  }
  if (produced.some((p, i) => p < xs[2 + i])) {
    const extra = produced.map((p, i) => Math.max(0, xs[2 + i] - p));
    g = b.op('Pad', [g, b.constInt64('pads', [0, 0, ...Array(rank).fill(0), 0, 0, ...extra])]);
  }
  return [g];
}

export function globalAveragePool({ b, node, dy: [dy], shape }: GradContext): GradResult {
  if (!dy) return [];
  const xs = shape(node.inputs[0]);
  const area = tensorSize(xs.slice(2));
  return [b.op('Expand', [mulScalar(b, dy, 1 / area), b.constInt64('shape', xs)])];
}

/** GlobalMaxPool: dy goes to the maximum (split evenly between tied maxima). */
export function globalMaxPool({ b, node, dy: [dy], shape }: GradContext): GradResult {
  if (!dy) return [];
  const [x] = node.inputs;
  const rank = shape(x).length;
  const isMax = b.op('Cast', [b.op('Equal', [x, node.outputs[0]])], { to: attr.i(1) });
  const share = b.op('Div', [dy, reduceSum(b, isMax, range(rank, 2), true)]);
  return [b.op('Mul', [isMax, share])];
}

/** ReduceSum / ReduceMean / ReduceSumSquare: broadcast dy back over the reduced axes. */
