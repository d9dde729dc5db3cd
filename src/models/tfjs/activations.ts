/** Keras activation functions as ONNX nodes. */
import { attr } from '../../onnx/types.js';
import { GraftError } from '../../util/errors.js';
import { storedAxis, type ConvertContext, type Value } from './context.js';

/** Keras' activation name in a layer config (snake_case, camelCase or a {class_name} object); "linear" when absent. */
export function activationName(raw: unknown): string {
  if (raw == null) return 'linear';
  const name = typeof raw === 'object' ? String((raw as { class_name?: unknown }).class_name ?? '') : String(raw);
  return name.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}

/**
 * Applies the activation to `x`, writing the result to `out` (already reserved). Softmax runs over the
 * last Keras axis, which is the channel axis (1) of a stored NCHW tensor.
 */
export function applyActivation(ctx: ConvertContext, kind: string, x: Value, out: string, where: string): Value {
  const shape = x.shape;
  const result = { name: out, shape };
  const unary = (op: string, attributes = {}): Value => (ctx.emit(op, [x.name], out, attributes), result);
  switch (kind) {
    case 'linear':
      return x.name === out ? x : unary('Identity');
    case 'relu': return unary('Relu');
    case 'relu6': return clip(ctx, x, 0, 6, out);
    case 'sigmoid': return unary('Sigmoid');
    case 'hard_sigmoid': return unary('HardSigmoid', { alpha: attr.f(0.2), beta: attr.f(0.5) });
    case 'tanh': return unary('Tanh');
    case 'elu': return unary('Elu', { alpha: attr.f(1) });
    case 'selu': return unary('Selu', { alpha: attr.f(1.6732632423543772), gamma: attr.f(1.0507009873554805) });
    case 'softplus': return unary('Softplus');
    case 'softsign': return unary('Softsign');
    case 'exponential': return unary('Exp');
    case 'softmax': return unary('Softmax', { axis: attr.i(storedAxis(-1, shape.length)) });
    case 'log_softmax': return unary('LogSoftmax', { axis: attr.i(storedAxis(-1, shape.length)) });
    case 'swish':
    case 'silu': {
      const s = ctx.emit('Sigmoid', [x.name], ctx.tmp(`${out}/sigmoid`));
      ctx.emit('Mul', [x.name, s], out);
      return result;
    }
    case 'mish': {
      const sp = ctx.emit('Softplus', [x.name], ctx.tmp(`${out}/softplus`));
      const t = ctx.emit('Tanh', [sp], ctx.tmp(`${out}/tanh`));
      ctx.emit('Mul', [x.name, t], out);
      return result;
    }
    case 'gelu': {
      // x · ½(1 + erf(x/√2)), as tfjs computes it
      const scaled = ctx.emit('Mul', [x.name, ctx.b.constFloat(`${out}/inv_sqrt2`, Math.SQRT1_2)], ctx.tmp(`${out}/scaled`));
      const erf = ctx.emit('Erf', [scaled], ctx.tmp(`${out}/erf`));
      const onePlus = ctx.emit('Add', [erf, ctx.b.constFloat(`${out}/one`, 1)], ctx.tmp(`${out}/one_plus`));
      const half = ctx.emit('Mul', [onePlus, ctx.b.constFloat(`${out}/half`, 0.5)], ctx.tmp(`${out}/cdf`));
      ctx.emit('Mul', [x.name, half], out);
      return result;
    }
    default:
      throw new GraftError('UNSUPPORTED_LAYER', `unsupported Keras activation "${kind}" in ${where} in ${ctx.file}`);
  }
}

/** Clip(x, lo, hi) (opset ≥ 11 takes the bounds as inputs; an empty name leaves that side open). */
export function clip(ctx: ConvertContext, x: Value, lo: number | undefined, hi: number | undefined, out: string): Value {
  const inputs = [x.name, lo === undefined ? '' : ctx.b.constFloat(`${out}/min`, lo), hi === undefined ? '' : ctx.b.constFloat(`${out}/max`, hi)];
  while (inputs[inputs.length - 1] === '') inputs.pop();
  ctx.emit('Clip', inputs, out);
  return { name: out, shape: x.shape };
}
