/** Entry point for running the CLI from source (`node --import tsx src/cli/run.ts …`), used by tests. */
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
