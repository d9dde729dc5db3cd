/**
 * Hand-written vs library, same run: graft's ONNX codec (src/onnx/codec.ts, now over onnx-proto = protobufjs code
 * generated from the official onnx.proto) against the hand-written codec it replaced (kept in bench/baseline/), and
 * dream's FFT: the hand-written mixed-radix one (kept in bench/baseline/) against fft.js, which viz/dream/fft.ts now
 * uses (under Bluestein's identity for lengths that are not powers of two).
 * Both codecs map to and from graft's typed Model; the bare onnx-proto decode (protobufjs objects only) is printed too.
 *   node --import tsx bench/libraries.ts [architecture, default resnet50]
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import onnxProto from 'onnx-proto';
import { buildArchitecture } from '../src/models/builders/index.js';
import { decodeModel, encodeModel } from '../src/onnx/codec.js';
import { fft, irfft2, irfft2Adjoint, halfWidth, type Dft } from '../src/viz/dream/fft.js';
import * as handWrittenCodec from './baseline/codec-hand-written.js';
import * as handWritten from './baseline/fft-hand-written.js';
import { medianMs } from './timing.js';

const { onnx } = onnxProto;
const arch = process.argv[2] ?? 'resnet50';
const built = buildArchitecture(arch, { seed: 0 });
const bytes = encodeModel(built.model);
console.log(`${arch}: ${(bytes.length / 1e6).toFixed(1)} MB encoded — node ${process.version}, load ${os.loadavg()[0].toFixed(2)}, ${new Date().toISOString()}`);

const row = (what: string, hand: number, lib: number) =>
  console.log(`${what.padEnd(34)} hand-written ${hand.toFixed(1).padStart(8)} ms   library ${lib.toFixed(1).padStart(8)} ms   library/hand ${(lib / hand).toFixed(2)}×`);

// The two codecs must agree before their times mean anything: both read graft's bytes, and graft reads the
// hand-written codec's bytes, to one and the same Model.
const reference = handWrittenCodec.decodeModel(bytes);
for (const [what, model] of [['graft decoding graft bytes', decodeModel(bytes)], ['graft decoding hand-written bytes', decodeModel(handWrittenCodec.encodeModel(built.model))]] as const) {
  try {
    assert.deepEqual(model, reference);
  } catch {
    throw new Error(`the codecs disagree: ${what} differs from the hand-written decoding`);
  }
}

const handDecode = await medianMs(async () => handWrittenCodec.decodeModel(bytes), 5);
row('decode (bytes → Model)', handDecode, await medianMs(async () => decodeModel(bytes), 5));
row('  onnx-proto alone (bytes → objects)', handDecode, await medianMs(async () => onnx.ModelProto.decode(bytes), 5));
// graft's decode leaves aligned weights as views on the bytes; the hand-written one copied them. Copying them out
// after the library decode gives the like-for-like cost for a caller that must own its weights.
row('decode + own copy of every weight', handDecode, await medianMs(async () => {
  for (const t of decodeModel(bytes).graph.initializers.values()) if (t.dtype !== 'string') (t.data as Float32Array).slice();
}, 5));
row('encode (Model → bytes)', await medianMs(async () => handWrittenCodec.encodeModel(built.model), 5), await medianMs(async () => encodeModel(built.model), 5));

// Complex FFT: the hand-written mixed-radix one against fft.js (under Bluestein for lengths that are not powers of two).
const reps = 2000;
for (const n of [256, 232]) {
  const re = Float64Array.from({ length: n }, (_, i) => Math.sin(i * 0.37));
  const im = new Float64Array(n);
  const handFft = await medianMs(async () => { for (let r = 0; r < reps; r++) handWritten.fft(re.slice(), im.slice()); }, 5);
  const libFft = await medianMs(async () => { for (let r = 0; r < reps; r++) fft(re.slice(), im.slice()); }, 5);
  row(`complex FFT n=${n} (×${reps})`, handFft, libFft);
}

// What a dream step pays: the inverse transform of one render and its adjoint, 3 channels of 232×232 (224 + 2·4 jitter margin).
const h = 232;
const spec = { re: Float32Array.from({ length: h * halfWidth(h) }, (_, i) => Math.cos(i)), im: Float32Array.from({ length: h * halfWidth(h) }, (_, i) => Math.sin(i)) };
const img = Float32Array.from({ length: h * h }, (_, i) => Math.sin(i * 0.1));
const step = (dft: Dft) => async () => {
  for (let c = 0; c < 3; c++) { irfft2(spec, h, h, dft); irfft2Adjoint(img, h, h, dft); }
};
row(`irfft2 + adjoint, 3×${h}×${h}`, await medianMs(step(handWritten.fft), 5), await medianMs(step(fft), 5));
