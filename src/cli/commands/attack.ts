import type { Command } from 'commander';
import { attackImage, METHODS, type AttackReport, type Method, type Norm } from '../../attack/index.js';
import { findClass } from '../../models/labels.js';
import { loadModel } from '../../models/load.js';
import { GraftError } from '../../util/errors.js';
import { addModelOptions, intOption, modelFromFlags, numberOption, printJson, type ModelFlags } from '../common.js';
import { terminalProgress } from '../progress.js';

interface AttackFlags extends ModelFlags {
  target?: string;
  untargeted?: boolean;
  method: string;
  norm: string;
  eps?: string;
  steps?: string;
  stepSize?: string;
  margin?: string;
  transferTo?: string;
  transferRandomWeights?: boolean;
  out: string;
  compare?: string;
  json?: boolean;
}

/** Checks a --method / --norm value. */
export function parseMethod(value: string): Method {
  if (!(METHODS as readonly string[]).includes(value)) throw new GraftError('BAD_ARGUMENT', `--method must be one of ${METHODS.join(', ')}, got "${value}"`);
  return value as Method;
}

export function parseNorm(value: string): Norm {
  if (value !== 'linf' && value !== 'l2') throw new GraftError('BAD_ARGUMENT', `--norm must be linf or l2, got "${value}"`);
  return value;
}

const pct = (p: number) => `${(p * 100).toFixed(2)}%`;

function print(r: AttackReport): void {
  const s = r.settings;
  console.log(`${r.image}: ${s.method} ${s.norm}${s.eps !== undefined ? ` ε=${s.eps}` : ''} steps=${s.steps} step=${s.stepSize ?? '-'} → ${r.out}`);
  console.log(`  original     ${String(r.original.index).padStart(4)}  ${r.original.label}  ${pct(r.original.probability)}`);
  console.log(`  adversarial  ${String(r.adversarial.index).padStart(4)}  ${r.adversarial.label}  ${pct(r.adversarial.probability)}  (PNG read back via ${r.reread === 'preprocess' ? "the model's preprocessing" : 'direct crop (the preprocessing would resize it)'})`);
  console.log(`  ${r.success ? 'success' : 'FAILED'}: L∞ ${r.linf} px, L2 ${r.l2.toFixed(1)} px, PSNR ${r.psnr.toFixed(1)} dB, ${r.gradientEvaluations} gradient evaluations`);
  if (r.transfer) {
    const t = r.transfer;
    console.log(`  transfer to ${t.model}: ${t.original.label} ${pct(t.original.probability)} → ${t.label} ${pct(t.probability)}  ${t.fooled ? 'fooled' : 'not fooled'}`);
  }
}

export function register(program: Command): void {
  addModelOptions(
    program.command('attack <image>').description('adversarial attack on one image; ε and step sizes in 0–255 pixel units of the model input crop'),
  )
    .option('--target <class>', 'targeted: class name or index to reach (e.g. "tabby cat" or 281)')
    .option('--untargeted', "untargeted: move away from the model's own prediction")
    .option('--method <m>', `${METHODS.join(' | ')}`, 'pgd')
    .option('--norm <n>', 'linf | l2', 'linf')
    .option('--eps <e>', 'perturbation radius in pixel units (default: pgd/fgsm linf 8, l2 255; descent: none)')
    .option('--steps <n>', 'iterations (default: pgd 10, descent 100)')
    .option('--step-size <s>', 'pgd α in pixel units (default linf 2, l2 51); descent learning rate in [0,1] image units (default 1)')
    .option('--margin <m>', 'logit margin the 8-bit image must clear', '0.1')
    .option('--transfer-to <model>', 'also report what this second model says about the adversarial PNG')
    .option('--transfer-random-weights', 'build the --transfer-to architecture with random weights')
    .requiredOption('-o, --out <file>', 'adversarial image (PNG, at the model input size)')
    .option('--compare <file>', 'side-by-side PNG: original | ×10 perturbation | adversarial')
    .option('--json', 'print JSON')
    .action(async (image: string, f: AttackFlags) => {
      if ((f.target === undefined) === !f.untargeted) throw new GraftError('BAD_ARGUMENT', 'give exactly one of --target <class> and --untargeted');
      const m = await modelFromFlags(f);
      const transfer = f.transferTo
        ? await loadModel(f.transferTo, { randomWeights: f.transferRandomWeights, seed: Number(f.seed ?? 0), progress: terminalProgress() })
        : undefined;
      const report = await attackImage(m, image, {
        settings: {
          method: parseMethod(f.method),
          norm: parseNorm(f.norm),
          eps: f.eps === undefined ? undefined : numberOption(f.eps, '--eps'),
          steps: f.steps === undefined ? undefined : intOption(f.steps, '--steps'),
          stepSize: f.stepSize === undefined ? undefined : numberOption(f.stepSize, '--step-size'),
          margin: numberOption(f.margin ?? '0.1', '--margin'),
          seed: Number(f.seed ?? 0),
        },
        target: f.target === undefined ? undefined : findClass(m.labels, f.target),
        out: f.out,
        compare: f.compare,
        transfer,
        progress: terminalProgress(),
      });
      if (f.json) printJson(report);
      else print(report);
      if (!report.success) process.exitCode = 1;
    });
}
