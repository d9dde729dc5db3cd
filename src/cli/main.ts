/** The `graft` command line: parses flags and calls the library. No logic of its own. */
import { Command, CommanderError } from 'commander';
import { GraftError } from '../util/errors.js';
import { setInvocation } from './invocation.js';
import { register as classify } from './commands/classify.js';
import { register as inspect } from './commands/inspect.js';
import { register as features } from './commands/features.js';
import { register as models } from './commands/models.js';
import { register as train } from './commands/train.js';
import { register as predict } from './commands/predict.js';
import { register as dream } from './commands/dream.js';
import { register as explain } from './commands/explain.js';
import { register as datasets } from './commands/datasets.js';
import { register as attack } from './commands/attack.js';
import { register as robustnessCmd } from './commands/robustness.js';
import { register as plan } from './commands/plan.js';
import { register as shard } from './commands/shard.js';
import { register as status } from './commands/status.js';
import { register as merge } from './commands/merge.js';
import { register as lrFind } from './commands/lr-find.js';
import { register as studio } from './commands/studio.js';
import { register as bench } from './commands/bench.js';

const COMMANDS = [classify, inspect, features, models, datasets, train, lrFind, predict, dream, explain, attack, robustnessCmd, plan, shard, status, merge, studio, bench];

export function buildProgram(): Command {
  const program = new Command('graft')
    .description('transfer learning for TypeScript: pretrained CNNs on ONNX Runtime')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError();
  for (const register of COMMANDS) register(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  // `graft models | head` closes stdout early; that is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  setInvocation(argv);
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof GraftError) {
      console.error(`graft: ${err.message}`);
      return 2;
    }
    if (err instanceof Error && !process.env.GRAFT_DEBUG) {
      console.error(`graft: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
