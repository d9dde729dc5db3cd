/**
 * Which initializers of a network are trainable, and how "unfreeze from layer X" / "unfreeze the last N blocks"
 * pick them.
 *
 * A block is the unit a user thinks in (an inverted residual, a ResNet block, a VGG stage …): see models/blocks.ts.
 */
import { producers, topoSort } from '../../onnx/order.js';
import type { Graph, Node } from '../../onnx/types.js';
import { tensorSize } from '../../onnx/types.js';
import { GraftError } from '../../util/errors.js';
import { assignBlocks, namedBlock } from '../../models/blocks.js';
import { assertDifferentiable } from '../../models/quantized.js';

/** Inputs of each op that hold parameters (BatchNormalization: γ and β only — its running statistics are state, not parameters). */
const PARAMETER_INPUTS: Record<string, number[]> = {
  Conv: [1, 2],
  ConvTranspose: [1, 2],
  Gemm: [1, 2],
  MatMul: [0, 1],
  BatchNormalization: [1, 2],
  Add: [0, 1],
  Mul: [0, 1],
  Sub: [0, 1],
};

/** Broadcast operands of Add/Mul/Sub are parameters only when per-channel (a scalar there is a fixed rescaling). */
const ELEMENTWISE = new Set(['Add', 'Mul', 'Sub']);

export interface ParameterLayer {
  node: Node;
  /** Index in the topological order of all nodes. */
  position: number;
  params: string[];
  block: string;
}

/** Layers owning float32 initializers that are parameters, in topological order, each with its block. */
export function parameterLayers(g: Graph): ParameterLayer[] {
  const seen = new Set<string>();
  const out: Omit<ParameterLayer, 'block'>[] = [];
  topoSort(g).forEach((node, position) => {
    const slots = PARAMETER_INPUTS[node.opType];
    if (!slots || (node.domain ?? '') !== '') return;
    const params = slots
      .map((k) => node.inputs[k])
      .filter((name) => {
        const t = name ? g.initializers.get(name) : undefined;
        if (!t || t.dtype !== 'float32' || seen.has(name)) return false;
        return !ELEMENTWISE.has(node.opType) || tensorSize(t.dims) > 1;
      });
    if (!params.length) return;
    params.forEach((p) => seen.add(p));
    out.push({ node, position, params });
  });
  const blocks = assignBlocks(g, out.map((l) => l.node));
  return out.map((l, i) => ({ ...l, block: blocks[i] }));
}

/** The block a layer belongs to, when its name follows a known architecture's naming. */
export function blockName(layer: string): string | undefined {
  return namedBlock(layer);
}

/** Which backbone layers to train: from a layer onwards, the last N blocks, or everything. */
export type Unfreeze = { layer: string } | { blocks: number } | { all: true };

export interface Selection {
  /** Initializer names to train, in topological order. */
  params: string[];
  /** Names of the layers (nodes) being trained. */
  layers: string[];
  /** Blocks touched, in order. */
  blocks: string[];
}

/**
 * The backbone layers to unfreeze. `layer` may be a node name or a tensor name; every parameter layer at or
 * after it in topological order is trained. `exclude` filters out parameters of other groups (the head).
 */
export function selectUnfrozen(g: Graph, unfreeze: Unfreeze, exclude: (param: string) => boolean = () => false): Selection {
  if (!('blocks' in unfreeze && unfreeze.blocks === 0)) assertDifferentiable(g, `the backbone ${g.name}`);
  const layers = parameterLayers(g)
    .map((l) => ({ ...l, params: l.params.filter((p) => !exclude(p)) }))
    .filter((l) => l.params.length);
  let picked: ParameterLayer[];
  if ('all' in unfreeze) picked = layers;
  else if ('blocks' in unfreeze) {
    const n = unfreeze.blocks;
    if (!Number.isInteger(n) || n < 0) throw new GraftError('BAD_ARGUMENT', `--unfreeze-blocks must be an integer ≥ 0, got ${n}`);
    const blocks = [...new Set(layers.map((l) => l.block))];
    const kept = new Set(n === 0 ? [] : blocks.slice(-n));
    picked = layers.filter((l) => kept.has(l.block));
  } else {
    const start = layerPosition(g, unfreeze.layer);
    picked = layers.filter((l) => l.position >= start);
    if (!picked.length) throw new GraftError('UNKNOWN_LAYER', `--unfreeze ${unfreeze.layer}: no layer with parameters at or after it in the backbone`);
  }
  return {
    params: picked.flatMap((l) => l.params),
    layers: picked.map((l) => l.node.name),
    blocks: [...new Set(picked.map((l) => l.block))],
  };
}

function layerPosition(g: Graph, layer: string): number {
  const order = topoSort(g);
  let at = order.findIndex((n) => n.name === layer);
  if (at < 0) {
    const producer = producers(g).get(layer);
    at = producer ? order.indexOf(producer) : -1;
  }
  if (at < 0) {
    const near = order.filter((n) => n.name.includes(layer)).slice(0, 5).map((n) => n.name);
    throw new GraftError('UNKNOWN_LAYER', `--unfreeze ${layer}: no layer or tensor of that name in the backbone${near.length ? ` (similar: ${near.join(', ')})` : ''}`);
  }
  return at;
}
