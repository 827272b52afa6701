import type { Command } from 'commander';
import { packageVersion } from '../../paths.js';
import { examples } from '../help.js';
import { outputOption, printStructured } from '../output.js';

export const workerctlVersion = packageVersion;

export function register(program: Command): void {
  program.version(workerctlVersion(), '-V, --version');
  program
    .command('version')
    .description('print the workerctl version and the Node.js version')
    .addOption(outputOption())
    .addHelpText('after', examples([['workerctl version -o json', '{"workerctl": "...", "node": "..."}']]))
    .action((opts: { output: string }) => {
      const info = { workerctl: workerctlVersion(), node: process.version };
      if (!printStructured(opts.output, info))
        process.stdout.write(`workerctl ${info.workerctl} (node ${info.node})\n`);
    });
}
