/**
 * Block boundaries of a network: the units a user thinks in when unfreezing "the last N blocks".
 *
 * Known naming schemes, first match wins (layer = ONNX node name, which the TF.js converter and the builders keep):
 * - Keras MobileNetV2 (also inside Teachable Machine's nested Sequential): `expanded_conv_*` is `block_0`,
 *   `block_N_*` is `block_N`, `Conv1`/`bn_Conv1` the stem, `Conv_1`/`Conv_1_bn` the last 1×1 conv (`Conv_1`);
 * - Keras MobileNet v1: `conv_dw_N` + `conv_pw_N` (and their BN) is `block_N`, `conv1` the stem, `conv_preds` the classifier;
 * - Keras ResNet: `convS_blockB_*` is the stage `convS`; Keras VGG: `blockK_conv*` is `blockK`;
 *   Keras EfficientNet: `block2a_*` is `block2a`, `stem_*` the stem, `top_*` the top conv;
 * - torchvision (graft's builders): ResNet stages `layerS`; EfficientNet MBConv blocks `features.S.B`;
 *   MobileNetV2 inverted residuals and conv-BN units `features.i`; VGG conv stages between max-pools `stageK`
 *   (torchvision numbers VGG's single layers `features.i`); `classifier`/`fc`/`logits` the classifier;
 * - anything else: a convolution (or dense layer) with the BatchNormalization / bias ops after it, named after it.
 * Layers before the first block form the block `stem`.
 */
import { topoSort } from '../onnx/order.js';
import type { Graph, Node } from '../onnx/types.js';

type Rule = (name: string) => string | undefined;

const match = (re: RegExp, name: (m: RegExpExecArray) => string): Rule => (layer) => {
  const m = re.exec(layer);
  return m ? name(m) : undefined;
};

const STEM = 'stem';

const RULES: Rule[] = [
  // Keras MobileNetV2
  match(/^(?:bn_)?Conv1(?:_|$)/, () => STEM),
  match(/^expanded_conv(?:_|$)/, () => 'block_0'),
  match(/^block_(\d+)_/, (m) => `block_${m[1]}`),
  match(/^Conv_1(?:_|$)/, () => 'Conv_1'),
  // Keras MobileNet v1
  match(/^conv1(?:_bn)?$/, () => STEM),
  match(/^conv_(?:dw|pw)_(\d+)(?:_|$)/, (m) => `block_${m[1]}`),
  match(/^conv_preds$/, () => 'classifier'),
  // Keras ResNet / VGG / EfficientNet
  match(/^conv1_(?:conv|bn)$/, () => STEM),
  match(/^(conv\d+)_block\d+_/, (m) => m[1]),
  match(/^(block\d+)_conv/, (m) => m[1]),
  match(/^(block\d+[a-z])_/, (m) => m[1]),
  match(/^stem_/, () => STEM),
  match(/^top_(?:conv|bn)$/, () => 'top'),
  // torchvision
  match(/^(?:conv1|bn1)$/, () => STEM),
  match(/^(layer\d+)(?:\.|$)/, (m) => m[1]),
  match(/^(features\.\d+\.\d+)\.block\./, (m) => m[1]),
  match(/^(features\.\d+)\./, (m) => m[1]),
  match(/^(classifier|fc|logits)(?:\.|$)/, () => 'classifier'),
];

/** The block a layer's name alone places it in, when it follows a known naming scheme. */
export function namedBlock(layer: string): string | undefined {
  return RULES.map((rule) => rule(layer)).find((b) => b !== undefined);
}

/** A torchvision VGG layer: `features.i` alone, a single module with no sub-modules. */
const FLAT_FEATURE = /^features\.\d+$/;

/** Ops that open a new generic block; anything else with parameters (BN, bias Add/Mul) joins the open one. */
const OPENS_BLOCK = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

/** The block of each parameter layer in `layers` (given in topological order), as explained in the module comment. */
export function assignBlocks(g: Graph, layers: Node[]): string[] {
  const poolsBefore = vggStages(g);
  let open: string | undefined;
  let seenBlock = false;
  return layers.map((node) => {
    const name = node.name;
    let block = namedBlock(name);
    if (block === undefined && FLAT_FEATURE.test(name)) block = `stage${(poolsBefore.get(node) ?? 0) + 1}`;
    if (block === undefined) {
      // generic: a conv/dense layer opens a block named after it; its BN and bias join it
      if (OPENS_BLOCK.has(node.opType) || open === undefined) open = seenBlock || node.opType !== 'BatchNormalization' ? name : STEM;
      block = open;
    } else {
      open = block;
    }
    if (block !== STEM) seenBlock = true;
    return block;
  });
}

/** For each node: how many MaxPool nodes come before it in topological order (VGG's stage boundaries). */
function vggStages(g: Graph): Map<Node, number> {
  const out = new Map<Node, number>();
  let pools = 0;
  for (const node of topoSort(g)) {
    out.set(node, pools);
    if (node.opType === 'MaxPool') pools++;
  }
  return out;
}

/** Distinct blocks in order of first appearance. */
export function blockOrder(blocks: string[]): string[] {
  return [...new Set(blocks)];
}
