/**
 * The gradient table: ONNX op → a rule that emits the backward nodes of one forward node.
 * A rule receives the gradients of the node's outputs (undefined: no gradient flows there) and returns
 * the gradients of its inputs (undefined: zero, or an input that is not differentiated, such as integer
 * shapes, BatchNormalization running statistics or Clip bounds). Rules only ask for shapes of forward tensors.
 * Convolution and pooling rules live in rules-conv.ts; the elementwise, matrix, shape and reduction rules below.
 */
import type { GraphBuilder } from '../onnx/graph.js';
import type { DType, Node } from '../onnx/types.js';
import { attr, tensorSize } from '../onnx/types.js';
import { sliceRange } from '../onnx/shapes.js';
import { floatAttr, intAttr, intsAttr, stringAttr } from '../onnx/types.js';
import type { GradContext, GradResult, GradRule } from './context.js';
import { axesOf, norm, requireConst, unsupported } from './context.js';
import { filled, maskWhere, mulScalar, range, reduceSum, reshape, sameShape, scalar, transpose, transposeLast2, unbroadcast } from './emit.js';
import { averagePool, conv, convTranspose, globalAveragePool, globalMaxPool, maxPool } from './rules-conv.js';

export type { GradContext, GradResult, GradRule } from './context.js';

export const GRADIENT_RULES: Record<string, GradRule> = {
  Conv: conv,
  ConvTranspose: convTranspose,
  BatchNormalization: batchNormalization,

  Relu: unary((b, dy, _x, y) => maskWhere(b, greaterThan(b, y, 0), dy)),
  LeakyRelu: unary((b, dy, x, _y, n) => b.op('Where', [greaterThan(b, x, 0), dy, mulScalar(b, dy, floatAttr(n, 'alpha', 0.01))])),
  Elu: unary((b, dy, x, y, n) => b.op('Where', [greaterThan(b, x, 0), dy, b.op('Mul', [dy, b.op('Add', [y, scalar(b, floatAttr(n, 'alpha', 1))])])])),
  Sigmoid: unary((b, dy, _x, y) => b.op('Mul', [dy, b.op('Mul', [y, b.op('Sub', [scalar(b, 1), y])])])),
  Tanh: unary((b, dy, _x, y) => b.op('Mul', [dy, b.op('Sub', [scalar(b, 1), b.op('Mul', [y, y])])])),
  HardSigmoid: unary((b, dy, _x, y, n) => {
    const inside = b.op('And', [greaterThan(b, y, 0), b.op('Less', [y, scalar(b, 1)])]);
    return maskWhere(b, inside, mulScalar(b, dy, floatAttr(n, 'alpha', 0.2)));
  }),
  HardSwish: unary((b, dy, x) => {
    // y = x·clip(x/6 + 1/2, 0, 1): slope 0 below −3, 1 above 3, x/3 + 1/2 between.
    const middle = b.op('Add', [mulScalar(b, x, 1 / 3), scalar(b, 0.5)]);
    const slope = b.op('Where', [b.op('Less', [x, scalar(b, -3)]), scalar(b, 0), b.op('Where', [greaterThan(b, x, 3), scalar(b, 1), middle])]);
    return b.op('Mul', [dy, slope]);
  }),
  Clip: clip,
  Exp: unary((b, dy, _x, y) => b.op('Mul', [dy, y])),
  Log: unary((b, dy, x) => b.op('Div', [dy, x])),
  Sqrt: unary((b, dy, _x, y) => b.op('Div', [mulScalar(b, dy, 0.5), y])),
  Reciprocal: unary((b, dy, _x, y) => b.op('Neg', [b.op('Mul', [dy, b.op('Mul', [y, y])])])),
  Neg: unary((b, dy) => b.op('Neg', [dy])),
  Abs: unary((b, dy, x) => b.op('Mul', [dy, b.op('Sign', [x])])),
  Identity: passThrough,
  Dropout: passThrough,
  Cast: ({ b, node, dy: [dy], dtype }) => {
    const from = dtype(node.inputs[0]);
    if (!dy || !FLOAT_TYPES.has(from)) return [];
    return [from === dtype(node.outputs[0]) ? dy : b.op('Cast', [dy], { to: attr.i(from === 'float64' ? 11 : from === 'float16' ? 10 : 1) })];
  },

  Add: binary((_b, dy) => [dy, dy]),
  Sub: binary((b, dy, _a, _c, _y, needs) => [dy, needs[1] ? b.op('Neg', [dy]) : undefined]),
  Mul: binary((b, dy, a, c, _y, needs) => [needs[0] ? b.op('Mul', [dy, c]) : undefined, needs[1] ? b.op('Mul', [dy, a]) : undefined]),
  Div: binary((b, dy, _a, c, y, needs) => {
    const q = b.op('Div', [dy, c]);
    return [q, needs[1] ? b.op('Neg', [b.op('Mul', [q, y])]) : undefined];
  }),
  Pow: binary((b, dy, a, c, y, needs) => [
    needs[0] ? b.op('Mul', [dy, b.op('Mul', [c, b.op('Pow', [a, b.op('Sub', [c, scalar(b, 1)])])])]) : undefined,
    needs[1] ? b.op('Mul', [dy, b.op('Mul', [y, b.op('Log', [a])])]) : undefined,
  ]),
  Where: (ctx) => {
    const { b, node, needs } = ctx;
    const dy = ctx.dy[0];
    if (!dy) return [];
    const [cond, a, c] = node.inputs;
    const ys = ctx.shape(node.outputs[0]);
    const zero = scalar(b, 0);
    return [
      undefined,
      needs[1] ? unbroadcast(b, b.op('Where', [cond, dy, zero]), ys, ctx.shape(a)) : undefined,
      needs[2] ? unbroadcast(b, b.op('Where', [cond, zero, dy]), ys, ctx.shape(c)) : undefined,
    ];
  },
  Sum: (ctx) => {
    const dy = ctx.dy[0];
    if (!dy) return [];
    const ys = ctx.shape(ctx.node.outputs[0]);
    return ctx.node.inputs.map((i, k) => (ctx.needs[k] ? unbroadcast(ctx.b, dy, ys, ctx.shape(i)) : undefined));
  },
  Expand: (ctx) => {
    const dy = ctx.dy[0];
    return dy ? [unbroadcast(ctx.b, dy, ctx.shape(ctx.node.outputs[0]), ctx.shape(ctx.node.inputs[0]))] : [];
  },

  MatMul: matMul,
  Gemm: gemm,

  Flatten: reshapeBack,
  Reshape: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Transpose: transposeRule,
  Concat: concat,
  Split: split,
  Slice: slice,
  Pad: pad,

  MaxPool: maxPool,
  AveragePool: averagePool,
  GlobalAveragePool: globalAveragePool,
  GlobalMaxPool: globalMaxPool,
  ReduceSum: reduceRule('sum'),
  ReduceMean: reduceRule('mean'),
  ReduceSumSquare: reduceRule('sumSquare'),

  Softmax: softmax,
  LogSoftmax: logSoftmax,
};

const FLOAT_TYPES = new Set<DType>(['float32', 'float64', 'float16']);

// ---------------------------------------------------------------- elementwise

/** Rule for y = f(x) whose derivative is expressed by `dx(dy, x, y)`. */
function unary(dx: (b: GraphBuilder, dy: string, x: string, y: string, node: Node) => string): GradRule {
  return ({ b, node, dy: [dy] }) => (dy ? [dx(b, dy, node.inputs[0], node.outputs[0], node)] : []);
}

function passThrough({ dy: [dy] }: GradContext): GradResult {
  return [dy];
}

/** Binary broadcasting op: `partials` gives the full-shape gradients for each operand. */
function binary(partials: (b: GraphBuilder, dy: string, a: string, c: string, y: string, needs: boolean[]) => [string | undefined, string | undefined]): GradRule {
  return (ctx) => {
    const { b, node, needs } = ctx;
    const dy = ctx.dy[0];
    if (!dy) return [];
    const [a, c] = node.inputs;
    const y = node.outputs[0];
    const [ga, gc] = partials(b, dy, a, c, y, needs);
    const yShape = ctx.shape(y);
    return [
      ga && needs[0] ? unbroadcast(b, ga, yShape, ctx.shape(a)) : undefined,
      gc && needs[1] ? unbroadcast(b, gc, yShape, ctx.shape(c)) : undefined,
    ];
  };
}

const greaterThan = (b: GraphBuilder, x: string, v: number) => b.op('Greater', [x, scalar(b, v)]);

// ---------------------------------------------------------------- normalisation

function batchNormalization(ctx: GradContext): GradResult {
  const { b, node, needs } = ctx;
  const dy = ctx.dy[0];
  if (!dy) return [];
  if (intAttr(node, 'training_mode', 0) === 1 || node.outputs.filter(Boolean).length > 1) unsupported(ctx, 'training mode (only the inference form with frozen statistics is differentiated)');
  const [x, scale, , mean, variance] = node.inputs;
  const xs = ctx.shape(x);
  const channelShape = [xs[1], ...Array(xs.length - 2).fill(1)];
  const invStd = b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [variance, scalar(b, floatAttr(node, 'epsilon', 1e-5))])])]);
  const reduceAxes = [0, ...range(xs.length, 2)];
  const grads: (string | undefined)[] = [];
  if (needs[0]) grads[0] = b.op('Mul', [dy, reshape(b, b.op('Mul', [scale, invStd]), channelShape)]);
  if (needs[1]) {
    const centred = b.op('Sub', [x, reshape(b, mean, channelShape)]);
    const xhat = b.op('Mul', [centred, reshape(b, invStd, channelShape)]);
    grads[1] = reduceSum(b, b.op('Mul', [dy, xhat]), reduceAxes, false);
  }
  if (needs[2]) grads[2] = reduceSum(b, dy, reduceAxes, false);
  return grads;
}

// ---------------------------------------------------------------- matrix products

function matMul(ctx: GradContext): GradResult {
  const { b, node, needs } = ctx;
  const dy = ctx.dy[0];
  if (!dy) return [];
  const [a, c] = node.inputs;
  const as = ctx.shape(a);
  const cs = ctx.shape(c);
  // Promote 1-D operands as MatMul does, so dy gets the [..., n, m] form.
  const a2s = as.length === 1 ? [1, as[0]] : as;
  const c2s = cs.length === 1 ? [cs[0], 1] : cs;
  const a2 = as.length === 1 ? reshape(b, a, a2s) : a;
  const c2 = cs.length === 1 ? reshape(b, c, c2s) : c;
  const ys = ctx.shape(node.outputs[0]);
  const batch = ys.slice(0, ys.length - (as.length === 1 ? 0 : 1) - (cs.length === 1 ? 0 : 1));
  const y2s = [...batch, a2s[a2s.length - 2], c2s[c2s.length - 1]];
  const dy2 = sameShape(ys, y2s) ? dy : reshape(b, dy, y2s);
  const grads: (string | undefined)[] = [];
  if (needs[0]) {
    const full = b.op('MatMul', [dy2, transposeLast2(b, c2, c2s.length)]);
    const g = unbroadcast(b, full, [...batch, a2s[a2s.length - 2], a2s[a2s.length - 1]], a2s);
    grads[0] = sameShape(a2s, as) ? g : reshape(b, g, as);
  }
  if (needs[1]) {
    const full = b.op('MatMul', [transposeLast2(b, a2, a2s.length), dy2]);
    const g = unbroadcast(b, full, [...batch, c2s[c2s.length - 2], c2s[c2s.length - 1]], c2s);
    grads[1] = sameShape(c2s, cs) ? g : reshape(b, g, cs);
  }
  return grads;
}

function gemm(ctx: GradContext): GradResult {
  const { b, node, needs } = ctx;
  const dy = ctx.dy[0];
  if (!dy) return [];
  const [a, w, c] = node.inputs;
  const transA = intAttr(node, 'transA', 0);
  const transB = intAttr(node, 'transB', 0);
  const alpha = attr.f(floatAttr(node, 'alpha', 1));
  const beta = floatAttr(node, 'beta', 1);
  const grads: (string | undefined)[] = [];
  // Y = α·A'·B' (A' = Aᵀ if transA): dA' = α·dY·B'ᵀ, dB' = α·A'ᵀ·dY, transposed back where the operand was.
  if (needs[0]) {
    grads[0] = transA
      ? b.op('Gemm', [w, dy], { alpha, transA: attr.i(transB), transB: attr.i(1) })
      : b.op('Gemm', [dy, w], { alpha, transB: attr.i(transB ? 0 : 1) });
  }
  if (needs[1]) {
    grads[1] = transB
      ? b.op('Gemm', [dy, a], { alpha, transA: attr.i(1), transB: attr.i(transA) })
      : b.op('Gemm', [a, dy], { alpha, transA: attr.i(transA ? 0 : 1) });
  }
  if (c && needs[2]) grads[2] = unbroadcast(b, mulScalar(b, dy, beta), ctx.shape(node.outputs[0]), ctx.shape(c));
  return grads;
}

// ---------------------------------------------------------------- shape ops

function reshapeBack(ctx: GradContext): GradResult {
  const dy = ctx.dy[0];
  return dy ? [reshape(ctx.b, dy, ctx.shape(ctx.node.inputs[0]))] : [];
}

function transposeRule({ b, node, dy: [dy], shape }: GradContext): GradResult {
  if (!dy) return [];
  const rank = shape(node.inputs[0]).length;
  const perm = intsAttr(node, 'perm') ?? range(rank).reverse();
  const inverse: number[] = [];
  perm.forEach((p, i) => (inverse[p] = i));
  return [transpose(b, dy, inverse)];
}

function concat(ctx: GradContext): GradResult {
  const { b, node, needs } = ctx;
  const dy = ctx.dy[0];
  if (!dy) return [];
  const rank = ctx.shape(node.outputs[0]).length;
  const axis = norm(intAttr(node, 'axis', 0), rank);
  const sizes = node.inputs.map((i) => ctx.shape(i)[axis]);
  if (sizes.length === 1) return [dy];
  const parts = b.node('Split', [dy, b.constInt64('split', sizes)], { axis: attr.i(axis) }, { outputs: sizes.length });
  return parts.map((p, k) => (needs[k] ? p : undefined));
}

function split(ctx: GradContext): GradResult {
  const { b, node } = ctx;
  const rank = ctx.shape(node.inputs[0]).length;
  const axis = norm(intAttr(node, 'axis', 0), rank);
  const parts = node.outputs.map((o, k) => ctx.dy[k] ?? filled(b, ctx.shape(o), 0));
  return [parts.length === 1 ? parts[0] : b.op('Concat', parts, { axis: attr.i(axis) })];
}

/**
 * Slice's adjoint puts dy back at the sliced positions of a zero tensor: per axis, undo a negative
 * step by reversing, undo a step k > 1 by interleaving k−1 zeros, then one Pad places the block.
 */
function slice(ctx: GradContext): GradResult {
  const { b, node } = ctx;
  const dy = ctx.dy[0];
  if (!dy) return [];
  let g = dy;
  const [x, startsIn, endsIn, axesIn, stepsIn] = node.inputs;
  const xs = ctx.shape(x);
  const rank = xs.length;
  const starts = intsAttr(node, 'starts') ?? requireConst(ctx, startsIn, 'starts');
  const ends = intsAttr(node, 'ends') ?? requireConst(ctx, endsIn, 'ends');
  const axes = (intsAttr(node, 'axes') ?? (axesIn ? requireConst(ctx, axesIn, 'axes') : range(starts.length))).map((a) => norm(a, rank));
  const steps = stepsIn ? requireConst(ctx, stepsIn, 'steps') : starts.map(() => 1);
  const gShape = [...ctx.shape(node.outputs[0])];
  if (tensorSize(gShape) === 0) return [filled(b, xs, 0)];
  const pads = Array(2 * rank).fill(0);
  for (let i = 0; i < rank; i++) pads[i + rank] = xs[i] - gShape[i];
  axes.forEach((a, i) => {
    const [lo, , step] = sliceRange(starts[i], ends[i], steps[i], xs[a]);
    const count = gShape[a];
    let first = lo;
    const k = Math.abs(step);
    if (step < 0) {
      g = b.op('Slice', [g, b.constInt64('starts', [-1]), b.constInt64('ends', [-count - 1]), b.constInt64('axes', [a]), b.constInt64('steps', [-1])]);
      first = lo + (count - 1) * step;
    }
    if (k > 1 && count > 1) {
      const withSlot = [...gShape.slice(0, a), count, 1, ...gShape.slice(a + 1)];
      const slotPads = Array(2 * (rank + 1)).fill(0);
      slotPads[a + 1 + rank + 1] = k - 1;
      let spread = b.op('Pad', [reshape(b, g, withSlot), b.constInt64('pads', slotPads)]);
      spread = reshape(b, spread, [...gShape.slice(0, a), count * k, ...gShape.slice(a + 1)]);
      const span = (count - 1) * k + 1;
      g = b.op('Slice', [spread, b.constInt64('starts', [0]), b.constInt64('ends', [span]), b.constInt64('axes', [a])]);
      gShape[a] = span;
    }
    pads[a] = first;
    pads[a + rank] = xs[a] - first - gShape[a];
  });
  return [b.op('Pad', [g, b.constInt64('pads', pads)])];
}

/** Constant-mode Pad: the adjoint is Pad with the negated pads (negative pads crop). */
function pad(ctx: GradContext): GradResult {
  const { b, node } = ctx;
  const dy = ctx.dy[0];
  if (!dy) return [];
  if (stringAttr(node, 'mode', 'constant') !== 'constant') unsupported(ctx, `mode "${stringAttr(node, 'mode', '')}" (only constant padding)`);
  const [, padsIn, , axesIn] = node.inputs;
  const known = intsAttr(node, 'pads') ?? ctx.constValue(padsIn);
  const negPads = known ? b.constInt64('pads', known.map((p) => -p)) : b.op('Neg', [padsIn]);
  return [b.op('Pad', axesIn ? [dy, negPads, '', axesIn] : [dy, negPads])];
}

function reduceRule(kind: 'sum' | 'mean' | 'sumSquare'): GradRule {
  return (ctx) => {
    const { b, node } = ctx;
    const dy = ctx.dy[0];
    if (!dy) return [];
    const xs = ctx.shape(node.inputs[0]);
    const rawAxes = axesOf(ctx, 1);
    const noop = intAttr(node, 'noop_with_empty_axes', 0) === 1;
    if ((!rawAxes || rawAxes.length === 0) && noop) return [kind === 'sumSquare' ? b.op('Mul', [dy, mulScalar(b, node.inputs[0], 2)]) : dy];
    const axes = rawAxes && rawAxes.length ? rawAxes.map((a) => norm(a, xs.length)) : range(xs.length);
    const kept = xs.map((d, i) => (axes.includes(i) ? 1 : d));
    let g = intAttr(node, 'keepdims', 1) === 1 ? dy : reshape(b, dy, kept);
    if (kind === 'mean') g = mulScalar(b, g, 1 / tensorSize(axes.map((a) => xs[a])));
    const spread = b.op('Expand', [g, b.constInt64('shape', xs)]);
    return [kind === 'sumSquare' ? b.op('Mul', [spread, mulScalar(b, node.inputs[0], 2)]) : spread];
  };
}

// ---------------------------------------------------------------- softmax

function softmax({ b, node, dy: [dy], shape }: GradContext): GradResult {
  if (!dy) return [];
  const y = node.outputs[0];
  const axis = norm(intAttr(node, 'axis', -1), shape(y).length);
  const dot = reduceSum(b, b.op('Mul', [dy, y]), [axis], true);
  return [b.op('Mul', [y, b.op('Sub', [dy, dot])])];
}

function logSoftmax({ b, node, dy: [dy], shape }: GradContext): GradResult {
  if (!dy) return [];
  const y = node.outputs[0];
  const axis = norm(intAttr(node, 'axis', -1), shape(y).length);
  const total = reduceSum(b, dy, [axis], true);
  return [b.op('Sub', [dy, b.op('Mul', [b.op('Exp', [y]), total])])];
}

/**
 * Clip passes dy where lo < y < hi. The mask reads only the output when the bounds are constants, so the
 * input need not be kept and onnxruntime fuses Conv + Clip in the forward part; otherwise Equal(x, y).
 */
function clip(ctx: GradContext): GradResult {
  const { b, node } = ctx;
  const dy = ctx.dy[0];
  if (!dy) return [];
  const [x, loIn, hiIn] = node.inputs;
  const y = node.outputs[0];
  const bound = (name: string | undefined) => (name ? ctx.constValue(name)?.[0] : undefined);
  const lo = bound(loIn);
  const hi = bound(hiIn);
  if ((loIn && lo === undefined) || (hiIn && hi === undefined)) return [maskWhere(b, b.op('Equal', [x, y]), dy)];
  const tests = [lo === undefined ? undefined : greaterThan(b, y, lo), hi === undefined ? undefined : b.op('Less', [y, scalar(b, hi)])].filter((t) => t !== undefined);
  if (tests.length === 0) return [dy];
  return [maskWhere(b, tests.length === 1 ? tests[0] : b.op('And', tests), dy)];
}
