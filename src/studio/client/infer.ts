/**
 * In-browser classification with onnxruntime-web (wasm, served by the studio from /ort/). The input contract
 * comes from the model's own `graft.preprocess` metadata: size, resize mode, mean/std, channel order, layout.
 * Resizing and cropping happen in a canvas; nothing here assumes a particular normalisation.
 */
import type * as Ort from 'onnxruntime-web';

// The contract is graft's own Preprocess type (a type-only import: nothing of the server is bundled).
import type { Preprocess } from '../../image/preprocess.js';
export type { Preprocess };

export interface Contract { labels: string[]; preprocess: Preprocess }

// A variable, not a literal: the runtime is loaded from the studio at run time, never bundled.
const ORT_URL = '/ort/ort.wasm.min.mjs';
let ortModule: Promise<typeof Ort> | undefined;

function ort(): Promise<typeof Ort> {
  ortModule ??= (import(/* webpackIgnore: true */ ORT_URL) as Promise<typeof Ort>).then((m) => {
    // Threads need SharedArrayBuffer (cross-origin isolation), which the studio does not ask for.
    m.env.wasm.numThreads = 1;
    m.env.wasm.wasmPaths = '/ort/';
    return m;
  });
  return ortModule;
}

export class BrowserClassifier {
  private constructor(readonly contract: Contract, private readonly ortLib: typeof Ort, private readonly session: Ort.InferenceSession) {}

  static async load(modelUrl: string, contract: Contract): Promise<BrowserClassifier> {
    const lib = await ort();
    const session = await lib.InferenceSession.create(modelUrl, { executionProviders: ['wasm'] });
    return new BrowserClassifier(contract, lib, session);
  }

  /** Probabilities (and logits, when the model has them) for one image. */
  async classify(source: CanvasImageSource & { width: number; height: number }): Promise<{ probabilities: number[]; logits?: number[] }> {
    const pre = this.contract.preprocess;
    const x = toTensor(drawInput(source, pre), pre);
    const [h, w] = pre.size;
    const dims = pre.layout === 'NCHW' ? [1, 3, h, w] : [1, h, w, 3];
    const out = await this.session.run({ [this.session.inputNames[0]]: new this.ortLib.Tensor('float32', x, dims) });
    const probs = out.probabilities ?? out[this.session.outputNames[0]];
    return { probabilities: Array.from(probs.data as Float32Array), logits: out.logits ? Array.from(out.logits.data as Float32Array) : undefined };
  }
}

/** The part of the image the resize mode keeps, as graft's inputRegion computes it. */
function region(width: number, height: number, pre: Preprocess): { left: number; top: number; width: number; height: number } {
  if (pre.resize !== 'crop') return { left: 0, top: 0, width, height };
  const [h, w] = pre.size;
  const scale = pre.resizeTo !== undefined ? pre.resizeTo / Math.min(width, height) : Math.max(w / width, h / height);
  const cw = Math.min(width, w / scale);
  const ch = Math.min(height, h / scale);
  return { left: (width - cw) / 2, top: (height - ch) / 2, width: cw, height: ch };
}

/** Draws the network-size input (8-bit RGBA) with the contract's resize mode. */
export function drawInput(source: CanvasImageSource & { width: number; height: number }, pre: Preprocess): ImageData {
  const [h, w] = pre.size;
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const g = canvas.getContext('2d', { willReadFrequently: true })!;
  g.imageSmoothingEnabled = true;
  g.imageSmoothingQuality = 'high';
  g.fillStyle = '#000';
  g.fillRect(0, 0, w, h);
  const r = region(source.width, source.height, pre);
  if (pre.resize === 'pad') {
    const k = Math.min(w / source.width, h / source.height);
    const dw = source.width * k;
    const dh = source.height * k;
    g.drawImage(source, 0, 0, source.width, source.height, (w - dw) / 2, (h - dh) / 2, dw, dh);
  } else {
    g.drawImage(source, r.left, r.top, r.width, r.height, 0, 0, w, h);
  }
  return g.getImageData(0, 0, w, h);
}

/**
 * value = (pixel/255 − mean[c]) / std[c], in the contract's channel order and layout — written as
 * pixel·scale − shift, the same arithmetic as graft's toTensor, so both give bit-identical inputs.
 */
export function toTensor(img: ImageData, pre: Preprocess): Float32Array {
  const { width: w, height: h, data } = img;
  const plane = w * h;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const src = pre.channelOrder === 'bgr' ? 2 - c : c;
    const scale = 1 / (255 * pre.std[c]);
    const shift = pre.mean[c] / pre.std[c];
    for (let i = 0; i < plane; i++) out[pre.layout === 'NCHW' ? c * plane + i : i * 3 + c] = data[i * 4 + src] * scale - shift;
  }
  return out;
}
