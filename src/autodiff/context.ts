/** What a gradient rule receives and returns, and the small checks every rule file shares. */
import type { GraphBuilder } from '../onnx/graph.js';
import type { DType, Node } from '../onnx/types.js';
import { intsAttr } from '../onnx/types.js';
import { GraftError } from '../util/errors.js';

export interface GradContext {
  b: GraphBuilder;
  node: Node;
  /** Gradients of the node's outputs. */
  dy: (string | undefined)[];
  /** Static shape of a forward tensor. */
  shape(name: string): number[];
  /** Element type of a forward tensor. */
  dtype(name: string): DType;
  /** Statically known values of a small constant tensor (initializer, Constant, folded shape arithmetic). */
  constValue(name: string): number[] | undefined;
  /** Which inputs need a gradient. */
  needs: boolean[];
}

/** Gradients of the node's inputs, by position (undefined: zero or not differentiated). */
export type GradResult = (string | undefined)[];

export type GradRule = (ctx: GradContext) => GradResult;

export function unsupported(ctx: GradContext, why: string): never {
  throw new GraftError('UNSUPPORTED_OP', `no gradient rule for op ${ctx.node.opType} with ${why} (node "${ctx.node.name}")`);
}

export function requireConst(ctx: GradContext, name: string, what: string): number[] {
  const v = ctx.constValue(name);
  if (!v) unsupported(ctx, `a non-constant ${what} input "${name}"`);
  return v;
}

/** The node's axes, from the attribute (older opsets) or the second input (newer ones). */
export function axesOf(ctx: GradContext, inputIndex: number): number[] | undefined {
  const fromAttr = intsAttr(ctx.node, 'axes');
  if (fromAttr) return fromAttr;
  const name = ctx.node.inputs[inputIndex];
  return name ? requireConst(ctx, name, 'axes') : undefined;
}

export const norm = (a: number, rank: number) => (a < 0 ? a + rank : a);
