/**
 * Static shape inference for the ops graft uses, with constant propagation of small integer tensors
 * (the Shape/Gather/Unsqueeze/Concat chains of PyTorch exports) so Reshape targets, Slice bounds and
 * axes given as inputs resolve. Dims are numbers when known, a symbol ("N") when symbolic, null when unknown.
 */
import type { DType, Dim, Graph, Node, Tensor } from './types.js';
import { intAttr, intsAttr, stringAttr, tensorInts } from './types.js';
import { topoSort } from './order.js';
import { errorMessage } from '../util/errors.js';

export interface TensorInfo {
  dtype: DType;
  shape?: Dim[];
  /** Known values of small constant tensors, flattened; a symbol stands for a symbolic dimension (Shape of [N,…]). */
  value?: Dim[];
  /**
   * Why the shape is unknown, when a shape rule failed: the op, the node and the rule's message, carried to the
   * tensors computed from it, so that "cannot infer a static shape" can say where the trouble started.
   */
  failure?: string;
}

const UNARY_SAME = new Set([
  'Relu', 'Clip', 'LeakyRelu', 'Elu', 'Selu', 'Sigmoid', 'Tanh', 'HardSigmoid', 'HardSwish', 'Softmax', 'LogSoftmax',
  'Dropout', 'Identity', 'Exp', 'Log', 'Sqrt', 'Neg', 'Abs', 'Reciprocal', 'BatchNormalization', 'LRN', 'Erf',
  'Floor', 'Ceil', 'Round', 'Sign', 'Softplus', 'Softsign', 'PRelu', 'InstanceNormalization', 'Gelu', 'Mish', 'Not',
]);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Where', 'Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Mod']);
const BOOL_OUT = new Set(['Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Not']);
const MAX_CONST = 64;


export function broadcastShapes(shapes: Dim[][]): Dim[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      // Missing leading dims broadcast as 1; an unknown dim (null) stays unknown, never 1 — else a symbolic batch turns into 1.
      const k = s.length - rank + i;
      const v = k < 0 ? 1 : s[k];
      if (v === 1) continue;
      if (d === 1 || d === null) d = v;
      else if (typeof d === 'number' && typeof v === 'number' && d !== v) throw new Error(`cannot broadcast ${JSON.stringify(shapes)}`);
    }
    out.push(d);
  }
  return out;
}

function normAxis(a: number, rank: number): number {
  return a < 0 ? a + rank : a;
}

function product(dims: Dim[]): number | null {
  let p = 1;
  for (const d of dims) {
    if (typeof d !== 'number') return null;
    p *= d;
  }
  return p;
}

export function poolOut(inp: Dim, k: number, s: number, padBegin: number, padTotal: number, dil: number, ceil: boolean): Dim {
  if (typeof inp !== 'number') return null;
  const eff = dil * (k - 1) + 1;
  if (!ceil) return Math.floor((inp + padTotal - eff) / s) + 1;
  let out = Math.ceil((inp + padTotal - eff) / s) + 1;
  // With ceil_mode the last window must start inside the input or its left padding (as onnxruntime/PyTorch do).
  if ((out - 1) * s >= inp + padBegin) out--;
  return out;
}

/** Spatial output dims for Conv/Pool with explicit or auto pads. */
export function convSpatial(node: Node, inSpatial: Dim[], kernel: number[]): { out: Dim[]; pads: number[] } {
  const r = kernel.length;
  const strides = intsAttr(node, 'strides') ?? Array(r).fill(1);
  const dil = intsAttr(node, 'dilations') ?? Array(r).fill(1);
  const autoPad = stringAttr(node, 'auto_pad', 'NOTSET');
  const ceil = intAttr(node, 'ceil_mode', 0) === 1;
  let pads = intsAttr(node, 'pads') ?? Array(2 * r).fill(0);
  const out: Dim[] = [];
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    pads = Array(2 * r).fill(0);
    for (let i = 0; i < r; i++) {
      const inp = inSpatial[i];
      if (typeof inp !== 'number') { out.push(null); continue; }
      const o = Math.ceil(inp / strides[i]);
      const total = Math.max(0, (o - 1) * strides[i] + dil[i] * (kernel[i] - 1) + 1 - inp);
      const small = Math.floor(total / 2);
      pads[i] = autoPad === 'SAME_UPPER' ? small : total - small;
      pads[i + r] = total - pads[i];
      out.push(o);
    }
    return { out, pads };
  }
  if (autoPad === 'VALID') pads = Array(2 * r).fill(0);
  for (let i = 0; i < r; i++) out.push(poolOut(inSpatial[i], kernel[i], strides[i], pads[i], pads[i] + pads[i + r], dil[i], ceil));
  return { out, pads };
}

/** The value as numbers, if every element is a known number. */
export function nums(v: Dim[] | undefined): number[] | undefined {
  return v && v.every((d) => typeof d === 'number') ? (v as number[]) : undefined;
}

function constValue(t: Tensor): number[] | undefined {
  if (t.dtype === 'string' || t.dims.reduce((a, b) => a * b, 1) > MAX_CONST) return undefined;
  return tensorInts(t);
}

/**
 * Infers dtype/shape (and small constant values) of every tensor in the graph.
 * `inputShapes` overrides the declared shapes of graph inputs (e.g. a concrete batch size).
 */
export function inferShapes(g: Graph, inputShapes: Record<string, Dim[]> = {}): Map<string, TensorInfo> {
  const info = new Map<string, TensorInfo>();
  for (const i of g.inputs) info.set(i.name, { dtype: i.dtype, shape: inputShapes[i.name] ?? i.shape });
  for (const t of g.initializers.values()) info.set(t.name, { dtype: t.dtype, shape: t.dims, value: constValue(t) });
  for (const node of topoSort(g)) {
    const ins = node.inputs.map((i) => (i ? info.get(i) : undefined));
    let outs: TensorInfo[];
    // A rule that throws leaves the outputs unknown (the graph may still run: onnxruntime infers its own shapes);
    // the failure is kept on the outputs instead of being dropped.
    let failure = ins.find((i) => i?.failure)?.failure;
    try {
      outs = inferNode(node, ins);
    } catch (e) {
      outs = [];
      failure = `the shape rule of ${node.opType} node "${node.name}" failed: ${errorMessage(e)}`;
    }
    node.outputs.forEach((o, k) => {
      if (!o) return;
      const declared = g.valueInfo.find((v) => v.name === o) ?? g.outputs.find((v) => v.name === o);
      const inferred = outs[k] ?? { dtype: declared?.dtype ?? 'float32', shape: declared?.shape };
      info.set(o, inferred.shape === undefined && failure ? { ...inferred, failure } : inferred);
    });
  }
  return info;
}

function inferNode(node: Node, ins: (TensorInfo | undefined)[]): TensorInfo[] {
  const x = ins[0];
  const xs = x?.shape;
  const f = (shape?: Dim[], dtype: DType = x?.dtype ?? 'float32', value?: Dim[]): TensorInfo => ({ dtype, shape, value });
  const op = node.opType;
  if (UNARY_SAME.has(op)) return [f(xs)];
  if (BROADCAST.has(op)) {
    const shapes = ins.map((i) => i?.shape);
    const shape = shapes.every((s) => s) ? broadcastShapes(shapes as Dim[][]) : undefined;
    const dtype = BOOL_OUT.has(op) ? 'bool' : op === 'Where' ? ins[1]?.dtype ?? 'float32' : x?.dtype ?? 'float32';
    return [f(shape, dtype, evalElementwise(op, ins, shape))];
  }
  switch (op) {
    case 'Constant': {
      const t = node.attributes.value;
      if (t?.type === 'tensor') return [f(t.value.dims, t.value.dtype, constValue(t.value))];
      const vi = node.attributes.value_int ?? node.attributes.value_ints;
      if (vi?.type === 'int') return [f([], 'int64', [vi.value])];
      if (vi?.type === 'ints') return [f([vi.value.length], 'int64', vi.value)];
      const vf = node.attributes.value_float ?? node.attributes.value_floats;
      if (vf?.type === 'float') return [f([], 'float32', [vf.value])];
      if (vf?.type === 'floats') return [f([vf.value.length], 'float32', vf.value)];
      return [];
    }
    case 'Conv': case 'QLinearConv': case 'ConvInteger': {
      const w = ins[op === 'QLinearConv' ? 3 : 1]?.shape;
      if (!xs || !w) return [];
      const kernel = intsAttr(node, 'kernel_shape') ?? (w.slice(2) as number[]);
      const { out } = convSpatial(node, xs.slice(2), kernel);
      const dtype = op === 'QLinearConv' ? ins[7]?.dtype ?? 'uint8' : op === 'ConvInteger' ? 'int32' : x!.dtype;
      return [f([xs[0], w[0], ...out], dtype)];
    }
    case 'ConvTranspose': {
      const w = ins[1]?.shape;
      if (!xs || !w) return [];
      const r = xs.length - 2;
      const kernel = intsAttr(node, 'kernel_shape') ?? (w.slice(2) as number[]);
      const strides = intsAttr(node, 'strides') ?? Array(r).fill(1);
      const dil = intsAttr(node, 'dilations') ?? Array(r).fill(1);
      const outPad = intsAttr(node, 'output_padding') ?? Array(r).fill(0);
      const pads = intsAttr(node, 'pads') ?? Array(2 * r).fill(0);
      const outShape = intsAttr(node, 'output_shape');
      const group = intAttr(node, 'group', 1);
      const spatial: Dim[] = [];
      for (let i = 0; i < r; i++) {
        const inp = xs[2 + i];
        if (outShape) spatial.push(outShape[outShape.length - r + i]);
        else if (typeof inp === 'number') spatial.push(strides[i] * (inp - 1) + outPad[i] + ((kernel[i] - 1) * dil[i] + 1) - pads[i] - pads[i + r]);
        else spatial.push(null);
      }
      const wc = w[1];
      return [f([xs[0], typeof wc === 'number' ? wc * group : null, ...spatial])];
    }
    case 'MaxPool': case 'AveragePool': case 'LpPool': {
      if (!xs) return [];
      const kernel = intsAttr(node, 'kernel_shape')!;
      const { out } = convSpatial(node, xs.slice(2), kernel);
      const shape = [xs[0], xs[1], ...out];
      return op === 'MaxPool' ? [f(shape), f(shape, 'int64')] : [f(shape)];
    }
    case 'GlobalAveragePool': case 'GlobalMaxPool': case 'QLinearGlobalAveragePool':
      return xs ? [f([xs[0], xs[1], ...xs.slice(2).map(() => 1)], op.startsWith('QLinear') ? ins[0]!.dtype : x!.dtype)] : [];
    case 'QuantizeLinear': return [f(xs, ins[2]?.dtype ?? 'uint8')];
    case 'DequantizeLinear': return [f(xs, 'float32')];
    case 'QLinearAdd': case 'QLinearMul': {
      const b = ins[3]?.shape;
      return [f(xs && b ? broadcastShapes([xs, b]) : undefined, x?.dtype)];
    }
    case 'MatMul': case 'QLinearMatMul': case 'MatMulInteger': {
      const a = xs;
      const b = ins[op === 'QLinearMatMul' ? 3 : 1]?.shape;
      if (!a || !b) return [];
      const a2 = a.length === 1 ? [1, a[0]] : a;
      const b2 = b.length === 1 ? [b[0], 1] : b;
      const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)]);
      const out: Dim[] = [...batch, ...(a.length === 1 ? [] : [a2[a2.length - 2]]), ...(b.length === 1 ? [] : [b2[b2.length - 1]])];
      const dtype = op === 'QLinearMatMul' ? ins[7]?.dtype ?? 'uint8' : op === 'MatMulInteger' ? 'int32' : x!.dtype;
      return [f(out, dtype)];
    }
    case 'Gemm': {
      const b = ins[1]?.shape;
      if (!xs || !b) return [];
      const m = intAttr(node, 'transA', 0) ? xs[1] : xs[0];
      const n = intAttr(node, 'transB', 0) ? b[0] : b[1];
      return [f([m, n])];
    }
    case 'Flatten': {
      if (!xs) return [];
      const axis = normAxis(intAttr(node, 'axis', 1), xs.length);
      return [f([product(xs.slice(0, axis)) ?? (axis === 1 ? xs[0] : null), product(xs.slice(axis))])];
    }
    case 'Reshape': {
      const target = ins[1]?.value;
      if (!target) return [f(undefined)];
      const allowZero = intAttr(node, 'allowzero', 0) === 1;
      const out: Dim[] = target.map((d, i) => (d === 0 && !allowZero ? xs?.[i] ?? null : d));
      const neg = out.indexOf(-1);
      if (neg >= 0 && xs) {
        // [N, -1] of [N, a, b]: the unknown is the product of the dims not matched by symbol.
        const rest = [...xs];
        for (const d of out) if (typeof d === 'string') { const k = rest.indexOf(d); if (k >= 0) rest.splice(k, 1); }
        const restProd = product(rest);
        const knownProd = product(out.filter((d, i) => i !== neg && typeof d === 'number'));
        if (restProd !== null && knownProd && out.every((d, i) => i === neg || typeof d === 'number' || xs.includes(d))) {
          out[neg] = restProd / knownProd;
        }
      }
      if (neg >= 0 && out[neg] === -1) {
        const total = xs ? product(xs) : null;
        const known = product(out.filter((_, i) => i !== neg));
        out[neg] = total !== null && known ? total / known : null;
        if (out[neg] === null && xs && out.length === 2 && neg === 1 && out[0] === xs[0]) out[neg] = product(xs.slice(1));
      }
      return [f(out, x?.dtype, x?.value && out.every((d) => typeof d === 'number') ? x.value : undefined)];
    }
    case 'Transpose': {
      if (!xs) return [];
      const perm = intsAttr(node, 'perm') ?? xs.map((_, i) => xs.length - 1 - i);
      return [f(perm.map((p) => xs[p]))];
    }
    case 'Squeeze': case 'Unsqueeze': {
      if (!xs) return [];
      const axes = intsAttr(node, 'axes') ?? nums(ins[1]?.value);
      if (op === 'Squeeze') {
        if (!axes) return [f(xs.filter((d) => d !== 1), x!.dtype, x!.value)];
        const ax = axes.map((a) => normAxis(a, xs.length));
        return [f(xs.filter((_, i) => !ax.includes(i)), x!.dtype, x!.value)];
      }
      if (!axes) return [];
      const rank = xs.length + axes.length;
      const ax = axes.map((a) => normAxis(a, rank));
      const out: Dim[] = [];
      let k = 0;
      for (let i = 0; i < rank; i++) out.push(ax.includes(i) ? 1 : xs[k++]);
      return [f(out, x!.dtype, x!.value)];
    }
    case 'Concat': {
      const shapes = ins.map((i) => i?.shape);
      if (!shapes.every((s) => s)) return [];
      const s0 = shapes[0]!;
      const axis = normAxis(intAttr(node, 'axis', 0), s0.length);
      const out = [...s0];
      let sum: number | null = 0;
      for (const s of shapes) sum = typeof s![axis] === 'number' && sum !== null ? sum + (s![axis] as number) : null;
      out[axis] = sum;
      const vals = ins.every((i) => i?.value) && s0.length === 1 ? ins.flatMap((i) => i!.value!) : undefined;
      return [f(out, x!.dtype, vals)];
    }
    case 'Split': {
      if (!xs) return [];
      const axis = normAxis(intAttr(node, 'axis', 0), xs.length);
      const n = node.outputs.length;
      const sizes = intsAttr(node, 'split') ?? nums(ins[1]?.value) ?? (typeof xs[axis] === 'number' ? Array(n).fill((xs[axis] as number) / n) : undefined);
      return node.outputs.map((_, k) => {
        const s = [...xs];
        s[axis] = sizes ? sizes[k] : null;
        return f(s);
      });
    }
    case 'Slice': {
      if (!xs) return [];
      const starts = intsAttr(node, 'starts') ?? nums(ins[1]?.value);
      const ends = intsAttr(node, 'ends') ?? nums(ins[2]?.value);
      if (!starts || !ends) return [f(xs.map(() => null))];
      const axes = intsAttr(node, 'axes') ?? nums(ins[3]?.value) ?? starts.map((_, i) => i);
      const steps = nums(ins[4]?.value) ?? starts.map(() => 1);
      const out = [...xs];
      const value = x?.value && xs.length === 1 ? [...x.value] : undefined;
      let sliced = value;
      axes.forEach((a0, i) => {
        const a = normAxis(a0, xs.length);
        const d = xs[a];
        if (typeof d !== 'number') { out[a] = null; sliced = undefined; return; }
        const [lo, hi, step] = sliceRange(starts[i], ends[i], steps[i], d);
        out[a] = Math.max(0, Math.ceil((hi - lo) / step));
        if (sliced) {
          const r: Dim[] = [];
          for (let k = lo; step > 0 ? k < hi : k > hi; k += step) r.push(sliced[k]);
          sliced = r;
        }
      });
      return [f(out, x!.dtype, sliced)];
    }
    case 'Pad': {
      if (!xs) return [];
      const pads = intsAttr(node, 'pads') ?? nums(ins[1]?.value);
      if (!pads) return [f(xs.map(() => null))];
      const axes = nums(ins[3]?.value)?.map((a) => normAxis(a, xs.length)) ?? xs.map((_, i) => i);
      const out = [...xs];
      axes.forEach((a, i) => {
        const d = out[a];
        const grow = pads[i] + pads[i + axes.length];
        // An unpadded axis keeps its symbolic name (the batch axis "N" must survive the padding of H and W).
        out[a] = typeof d === 'number' ? d + grow : grow === 0 ? d : null;
      });
      return [f(out)];
    }
    case 'ReduceMean': case 'ReduceSum': case 'ReduceMax': case 'ReduceMin': case 'ReduceProd': case 'ReduceL2': case 'ReduceSumSquare': case 'ReduceLogSumExp': case 'ArgMax': case 'ArgMin': {
      if (!xs) return [];
      const keep = intAttr(node, 'keepdims', 1) === 1;
      const axesRaw = op.startsWith('Arg') ? [intAttr(node, 'axis', 0)] : intsAttr(node, 'axes') ?? nums(ins[1]?.value);
      const axes = (axesRaw ?? xs.map((_, i) => i)).map((a) => normAxis(a, xs.length));
      const out: Dim[] = [];
      xs.forEach((d, i) => {
        if (!axes.includes(i)) out.push(d);
        else if (keep) out.push(1);
      });
      return [f(out, op.startsWith('Arg') ? 'int64' : x!.dtype)];
    }
    case 'Shape': {
      if (!xs) return [f([null], 'int64')];
      const start = normAxis(intAttr(node, 'start', 0), xs.length);
      const endA = node.attributes.end ? normAxis(intAttr(node, 'end', xs.length), xs.length) : xs.length;
      const dims = xs.slice(start, endA);
      return [f([dims.length], 'int64', dims.every((d) => d !== null) ? dims : undefined)];
    }
    case 'Size': return [f([], 'int64', xs && product(xs) !== null ? [product(xs)!] : undefined)];
    case 'Gather': {
      const idx = ins[1];
      if (!xs || !idx?.shape) return [];
      const axis = normAxis(intAttr(node, 'axis', 0), xs.length);
      const out = [...xs.slice(0, axis), ...idx.shape, ...xs.slice(axis + 1)];
      let value: Dim[] | undefined;
      const indices = nums(idx.value);
      if (x?.value && indices && xs.length === 1) value = indices.map((i) => x.value![i < 0 ? i + x.value!.length : i]);
      return [f(out, x!.dtype, value)];
    }
    case 'Cast': {
      const to = intAttr(node, 'to', 1);
      const dtype = CAST_TYPES[to] ?? 'float32';
      return [f(xs, dtype, x?.value)];
    }
    case 'ConstantOfShape': {
      const shape = nums(ins[0]?.value);
      const t = node.attributes.value;
      const dtype = t?.type === 'tensor' ? t.value.dtype : 'float32';
      const fill = t?.type === 'tensor' ? Number((t.value.data as ArrayLike<number | bigint>)[0]) : 0;
      const n = shape ? shape.reduce((a, b) => a * b, 1) : undefined;
      return [f(shape, dtype, n !== undefined && n <= MAX_CONST ? Array(n).fill(fill) : undefined)];
    }
    case 'Range': {
      const [s, l, d] = ins.map((i) => nums(i?.value)?.[0]);
      if (s === undefined || l === undefined || d === undefined) return [f([null], x?.dtype)];
      const n = Math.max(0, Math.ceil((l - s) / d));
      return [f([n], x!.dtype, n <= MAX_CONST ? Array.from({ length: n }, (_, k) => s + k * d) : undefined)];
    }
    case 'Expand': {
      const target = nums(ins[1]?.value);
      return [f(xs && target ? broadcastShapes([xs, target]) : undefined)];
    }
    case 'Tile': {
      const reps = nums(ins[1]?.value);
      return [f(xs && reps ? xs.map((d, i) => (typeof d === 'number' ? d * reps[i] : null)) : undefined)];
    }
    case 'ScatterElements': case 'ScatterND': return [f(xs)];
    case 'GatherElements': return [f(ins[1]?.shape)];
    case 'Resize': case 'Upsample': {
      const scales = nums(ins[2]?.value) ?? nums(ins[1]?.value);
      const sizes = nums(ins[3]?.value);
      if (sizes) return [f(sizes)];
      if (xs && scales) return [f(xs.map((d, i) => (typeof d === 'number' ? Math.floor(d * scales[i]) : null)))];
      return [];
    }
    case 'Einsum': case 'Loop': case 'If': case 'Scan':
      return [];
    default:
      return [];
  }
}

const CAST_TYPES: Record<number, DType> = { 1: 'float32', 2: 'uint8', 3: 'int8', 6: 'int32', 7: 'int64', 9: 'bool', 10: 'float16', 11: 'float64' };

/** Normalised [start, end, step) for a Slice on a dimension of size d. */
export function sliceRange(start: number, end: number, step: number, d: number): [number, number, number] {
  const clampIdx = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + d : start;
  let e = end < 0 ? end + d : end;
  if (step > 0) {
    s = clampIdx(s, 0, d);
    e = clampIdx(e, 0, d);
  } else {
    s = clampIdx(s, 0, d - 1);
    e = clampIdx(e, -1, d - 1);
  }
  return [s, e, step];
}

function evalElementwise(op: string, ins: (TensorInfo | undefined)[], shape?: Dim[]): number[] | undefined {
  if (!shape || !ins.every((i) => nums(i?.value) && i!.shape) || shape.length > 1) return undefined;
  const n = shape.length === 0 ? 1 : (shape[0] as number);
  const at = (i: TensorInfo, k: number) => (i.value as number[])[i.value!.length === 1 ? 0 : k];
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    const vs = ins.map((i) => at(i!, k));
    const isInt = ins[0]!.dtype.startsWith('int');
    switch (op) {
      case 'Add': out.push(vs[0] + vs[1]); break;
      case 'Sub': out.push(vs[0] - vs[1]); break;
      case 'Mul': out.push(vs[0] * vs[1]); break;
      case 'Div': out.push(isInt ? Math.trunc(vs[0] / vs[1]) : vs[0] / vs[1]); break;
      case 'Max': out.push(Math.max(...vs)); break;
      case 'Min': out.push(Math.min(...vs)); break;
      default: return undefined;
    }
  }
  return out;
}

