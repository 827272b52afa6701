import type { Command } from 'commander';
import { packageVersion } from '../../paths.js';

export const workerctlVersion = packageVersion;

export function register(program: Command): void {
  program.version(workerctlVersion(), '-V, --version');
  program
    .command('version')
    .description('print the workerctl version and the Node.js version')
    .option('-o, --output <format>', 'text or json', 'text')
    .action((opts: { output: string }) => {
      const info = { workerctl: workerctlVersion(), node: process.version };
      if (opts.output === 'json') process.stdout.write(JSON.stringify(info) + '\n');
      else process.stdout.write(`workerctl ${info.workerctl} (node ${info.node})\n`);
    });
}
