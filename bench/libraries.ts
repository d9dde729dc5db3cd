/**
 * Hand-written vs library, same run: the ONNX protobuf codec (onnx/codec.ts + protobuf.ts) against onnx-proto
 * (protobufjs over the official onnx.proto), and dream's FFT (viz/dream/fft.ts) against fft.js.
 * onnx-proto's numbers are a lower bound for a library codec: they stop at protobufjs objects, before the
 * mapping into graft's Model that a replacement would still need.
 *   node --import tsx bench/libraries.ts [architecture, default resnet50]
 */
import os from 'node:os';
import onnxProto from 'onnx-proto';
import FFT from 'fft.js';
import { buildArchitecture } from '../src/models/builders/index.js';
import { decodeModel, encodeModel } from '../src/onnx/codec.js';
import { fft, irfft2, halfWidth } from '../src/viz/dream/fft.js';
import { medianMs } from './timing.js';

const { onnx } = onnxProto;
const arch = process.argv[2] ?? 'resnet50';
const built = buildArchitecture(arch, { seed: 0 });
const bytes = encodeModel(built.model);
console.log(`${arch}: ${(bytes.length / 1e6).toFixed(1)} MB encoded — node ${process.version}, load ${os.loadavg()[0].toFixed(2)}, ${new Date().toISOString()}`);

const row = (what: string, hand: number, lib: number) =>
  console.log(`${what.padEnd(34)} hand-written ${hand.toFixed(1).padStart(8)} ms   library ${lib.toFixed(1).padStart(8)} ms   library/hand ${(lib / hand).toFixed(2)}×`);

const handDecode = await medianMs(async () => decodeModel(bytes), 5);
const libDecode = await medianMs(async () => onnx.ModelProto.decode(bytes), 5);
row('decode (bytes → objects)', handDecode, libDecode);
// Closer to what a library codec would cost: also copy every initializer's raw bytes out into its own Float32Array.
const libDecodeCopy = await medianMs(async () => {
  const m = onnx.ModelProto.decode(bytes);
  for (const t of m.graph?.initializer ?? []) if (t.rawData?.length) new Float32Array(Uint8Array.from(t.rawData).buffer);
}, 5);
row('decode + copy weights out', handDecode, libDecodeCopy);
const decoded = onnx.ModelProto.decode(bytes);
const handEncode = await medianMs(async () => encodeModel(built.model), 5);
const libEncode = await medianMs(async () => onnx.ModelProto.encode(decoded).finish(), 5);
row('encode (objects → bytes)', handEncode, libEncode);

// Complex FFT at a power of two (the only lengths fft.js transforms).
const n = 256;
const re = Float64Array.from({ length: n }, (_, i) => Math.sin(i * 0.37));
const im = new Float64Array(n);
const lib = new FFT(n);
const input = lib.createComplexArray() as number[];
for (let i = 0; i < n; i++) input[2 * i] = re[i];
const out = lib.createComplexArray() as number[];
const reps = 20000;
const handFft = await medianMs(async () => { for (let r = 0; r < reps; r++) fft(re.slice(), im.slice()); }, 5);
const libFft = await medianMs(async () => { for (let r = 0; r < reps; r++) lib.transform(out, input); }, 5);
row(`complex FFT n=${n} (×${reps})`, handFft, libFft);

// A dream step's inverse transform: 3 channels of a 232×232 image (224 + 2·4 jitter margin) — not a power of two.
const h = 232;
const spec = { re: new Float32Array(h * halfWidth(h)).fill(0.01), im: new Float32Array(h * halfWidth(h)) };
const dreamIrfft = await medianMs(async () => { for (let c = 0; c < 3; c++) irfft2(spec, h, h); }, 5);
console.log(`irfft2 3×${h}×${h} (one dream render)   hand-written ${dreamIrfft.toFixed(1).padStart(8)} ms   fft.js: n/a (power-of-two sizes only)`);
