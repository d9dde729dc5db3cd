import path from 'node:path';
import type { Command } from 'commander';
import { startStudio } from '../../studio/server.js';
import { isLoopback } from '../../studio/guard.js';
import { intOption } from '../common.js';

export function register(program: Command): void {
  program
    .command('studio')
    .description('local web studio: projects, training with live curves, in-browser predictions, Grad-CAM, feature maps, dream, attack')
    .option('--dir <workspace>', 'workspace folder (projects and runs are kept here)', 'graft-studio')
    .option('--port <n>', 'port (0: any free port)', '0')
    .option('--host <h>', 'address to bind (default loopback only)', '127.0.0.1')
    .action(async (f: { dir: string; port: string; host: string }) => {
      if (!isLoopback(f.host)) {
        console.error(`graft studio: WARNING: binding ${f.host} makes the studio reachable from other machines; it has no login, and anyone who reaches it can read and train on this workspace`);
      }
      const studio = await startStudio({ dir: path.resolve(f.dir), port: intOption(f.port, '--port'), host: f.host });
      console.log(`graft studio: ${studio.url}`);
      console.log(`workspace: ${studio.workspace.root}  (Ctrl-C to stop)`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          console.error('\ngraft studio: stopping (running jobs are cancelled)');
          studio.close().then(resolve, resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
