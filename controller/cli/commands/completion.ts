/** `workerctl completion bash|zsh|fish`: prints a shell completion script (present/completion-scripts.ts). */
import { Argument, type Command } from 'commander';
import { examples } from '../help.js';
import { bashScript, fishScript, zshScript } from '../present/completion-scripts.js';

export function register(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script for bash, zsh or fish')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh', 'fish']))
    .addHelpText(
      'after',
      examples([
        ['source <(workerctl completion bash)', 'bash, this shell (add it to ~/.bashrc to keep it)'],
        ['source <(workerctl completion zsh)', 'zsh'],
        ['workerctl completion fish > ~/.config/fish/completions/workerctl.fish', 'fish'],
      ]),
    )
    .action((shell: 'bash' | 'zsh' | 'fish') => {
      const script =
        shell === 'bash' ? bashScript(program) : shell === 'zsh' ? zshScript(program) : fishScript(program);
      process.stdout.write(script);
    });
}
