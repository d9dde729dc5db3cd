/** Elementwise and broadcasting ops in float64; the piecewise ones report their kinks to the monitor. */
import type { OpContext, OpImpl } from './context.js';
import { floatAttr, intAttr, required } from './context.js';
import { broadcastMap } from './tensor.js';

const INT_TYPES = new Set([2, 3, 4, 5, 6, 7, 12, 13]);

function unary(f: (v: number, ctx: OpContext) => number): OpImpl {
  return (ctx) => {
    const x = required(ctx, 0);
    const out = new Float64Array(x.data.length);
    for (let i = 0; i < out.length; i++) out[i] = f(x.data[i], ctx);
    return [{ dims: [...x.dims], data: out }];
  };
}

/**
 * A piecewise op: `kinks` are its breakpoints in input units; every element reports its distance to the
 * nearest one and its piece (how many kinks lie below it).
 */
function piecewise(make: (ctx: OpContext) => (v: number) => number, kinks: (ctx: OpContext) => number[]): OpImpl {
  return (ctx) => {
    const x = required(ctx, 0);
    const f = make(ctx);
    const ks = kinks(ctx);
    const monitor = ctx.kinks?.begin(ctx.node.opType);
    const out = new Float64Array(x.data.length);
    for (let i = 0; i < out.length; i++) {
      const v = x.data[i];
      out[i] = f(v);
      if (monitor) {
        let distance = Infinity;
        let piece = 0;
        for (const k of ks) {
          distance = Math.min(distance, Math.abs(v - k));
          if (v > k) piece++;
        }
        monitor.record(distance, piece);
      }
    }
    monitor?.done();
    return [{ dims: [...x.dims], data: out }];
  };
}

function binary(f: (a: number, b: number) => number): OpImpl {
  return (ctx) => [broadcastMap([required(ctx, 0), required(ctx, 1)], ([a, b]) => f(a, b))];
}

/** A comparison: its result flips where a = b, so |a − b| is a distance to a kink of whatever it selects. */
function comparison(f: (a: number, b: number) => boolean): OpImpl {
  return (ctx) => {
    const monitor = ctx.kinks?.begin(ctx.node.opType);
    const [x, y] = [required(ctx, 0), required(ctx, 1)];
    const out = broadcastMap([x, y], ([a, b]) => {
      const r = f(a, b);
      monitor?.record(Math.abs(a - b), r ? 1 : 0);
      return r ? 1 : 0;
    });
    monitor?.done();
    return [out];
  };
}

/** Clip bounds: inputs from opset 11, attributes before. */
function clipBounds(ctx: OpContext): [number, number] {
  if (ctx.opset < 11) return [floatAttr(ctx.node, 'min', -Infinity), floatAttr(ctx.node, 'max', Infinity)];
  return [ctx.inputs[1]?.data[0] ?? -Infinity, ctx.inputs[2]?.data[0] ?? Infinity];
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

export const ELEMENTWISE_OPS: Record<string, OpImpl> = {
  Relu: piecewise(() => (v) => Math.max(v, 0), () => [0]),
  LeakyRelu: piecewise((c) => {
    const alpha = floatAttr(c.node, 'alpha', 0.01);
    return (v) => (v > 0 ? v : v * alpha);
  }, () => [0]),
  Elu: piecewise((c) => {
    const alpha = floatAttr(c.node, 'alpha', 1);
    return (v) => (v > 0 ? v : alpha * Math.expm1(v));
  }, () => [0]),
  Abs: piecewise(() => Math.abs, () => [0]),
  HardSigmoid: piecewise((c) => {
    const alpha = floatAttr(c.node, 'alpha', 0.2);
    const beta = floatAttr(c.node, 'beta', 0.5);
    return (v) => Math.min(1, Math.max(0, alpha * v + beta));
  }, (c) => {
    const alpha = floatAttr(c.node, 'alpha', 0.2);
    const beta = floatAttr(c.node, 'beta', 0.5);
    return [-beta / alpha, (1 - beta) / alpha];
  }),
  HardSwish: piecewise(() => (v) => v * Math.min(1, Math.max(0, v / 6 + 0.5)), () => [-3, 3]),
  Clip: piecewise((c) => {
    const [lo, hi] = clipBounds(c);
    return (v) => Math.min(hi, Math.max(lo, v));
  }, (c) => clipBounds(c).filter(Number.isFinite)),
  Sigmoid: unary(sigmoid),
  Tanh: unary(Math.tanh),
  Exp: unary(Math.exp),
  Log: unary(Math.log),
  Sqrt: unary(Math.sqrt),
  Reciprocal: unary((v) => 1 / v),
  Neg: unary((v) => -v),
  Sign: unary(Math.sign),
  Sin: unary(Math.sin),
  Cos: unary(Math.cos),
  Erf: unary((v) => {
    throw new Error(`f64: Erf is not implemented (value ${v})`);
  }),
  Identity: unary((v) => v),
  Dropout: unary((v) => v),
  Cast: unary((v, c) => {
    const to = intAttr(c.node, 'to', 1);
    if (to === 9) return v !== 0 ? 1 : 0;
    return INT_TYPES.has(to) ? Math.trunc(v) : v;
  }),
  Not: unary((v) => (v ? 0 : 1)),
  Add: binary((a, b) => a + b),
  Sub: binary((a, b) => a - b),
  Mul: binary((a, b) => a * b),
  Div: (ctx) => {
    // Integer Div (shape arithmetic, e.g. Size / (N·C)) truncates, as ONNX integer division does.
    const [a, b] = [required(ctx, 0), required(ctx, 1)];
    const integer = a.int === true && b.int === true;
    return [broadcastMap([a, b], ([p, q]) => (integer ? Math.trunc(p / q) : p / q))];
  },
  Pow: binary((a, b) => Math.pow(a, b)),
  Greater: comparison((a, b) => a > b),
  Less: comparison((a, b) => a < b),
  GreaterOrEqual: comparison((a, b) => a >= b),
  LessOrEqual: comparison((a, b) => a <= b),
  Equal: binary((a, b) => (a === b ? 1 : 0)),
  And: binary((a, b) => (a && b ? 1 : 0)),
  Or: binary((a, b) => (a || b ? 1 : 0)),
  Max: (ctx) => [broadcastMap(ctx.inputs.map((_, i) => required(ctx, i)), (v) => Math.max(...v))],
  Min: (ctx) => [broadcastMap(ctx.inputs.map((_, i) => required(ctx, i)), (v) => Math.min(...v))],
  Sum: (ctx) => [broadcastMap(ctx.inputs.map((_, i) => required(ctx, i)), (v) => v.reduce((s, a) => s + a, 0))],
  Where: (ctx) => [broadcastMap([required(ctx, 0), required(ctx, 1), required(ctx, 2)], ([c, a, b]) => (c ? a : b))],
};
