/** What an op implementation of the float64 interpreter receives. */
import type { Attribute, Node } from '../../../src/onnx/types.js';
import type { KinkMonitor } from './kinks.js';
import type { T64 } from './tensor.js';

export interface OpContext {
  node: Node;
  /** Inputs in node order; undefined for an omitted optional input (''). */
  inputs: (T64 | undefined)[];
  opset: number;
  kinks?: KinkMonitor;
}

export type OpImpl = (ctx: OpContext) => T64[];

export function attrOf(node: Node, name: string): Attribute | undefined {
  return node.attributes[name];
}

export function intAttr(node: Node, name: string, fallback: number): number {
  const a = node.attributes[name];
  return a && a.type === 'int' ? a.value : fallback;
}

export function floatAttr(node: Node, name: string, fallback: number): number {
  const a = node.attributes[name];
  return a && (a.type === 'float' || a.type === 'int') ? a.value : fallback;
}

export function intsAttr(node: Node, name: string): number[] | undefined {
  const a = node.attributes[name];
  return a && a.type === 'ints' ? a.value : undefined;
}

export function stringAttr(node: Node, name: string, fallback: string): string {
  const a = node.attributes[name];
  return a && a.type === 'string' ? a.value : fallback;
}

export function required(ctx: OpContext, i: number): T64 {
  const t = ctx.inputs[i];
  if (!t) throw new Error(`f64: ${ctx.node.opType} ${ctx.node.name}: input ${i} is missing`);
  return t;
}

/** An integer-valued input (shape, axes, pads…) as JS numbers, or undefined when omitted. */
export function intsInput(ctx: OpContext, i: number): number[] | undefined {
  const t = ctx.inputs[i];
  return t ? Array.from(t.data) : undefined;
}
