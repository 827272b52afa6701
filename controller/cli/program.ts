/**
 * The workerctl command line. Each command lives in cli/commands/<name>.ts and exports
 * `register(program)`; this file only assembles them and maps errors to exit codes.
 *
 * Exit codes, as Terraform's `plan -detailed-exitcode`: 0 success (nothing to do); 1 any error,
 * usage errors included; 2 only for changes pending (`plan`, `adopt` and `recover` without --yes).
 */
import { Command, CommanderError } from 'commander';
import { UsageError, errorMessage } from '../errors.js';
import { redactText } from '../redact.js';
import { examples } from './help.js';
import { safeText } from '../terminal-text.js';
import { register as registerVersion } from './commands/version.js';
import { register as registerValidate } from './commands/validate.js';
import { register as registerSimulator } from './commands/simulator.js';
import { register as registerTest } from './commands/test.js';
import { register as registerSession } from './commands/session.js';
import { register as registerPlan } from './commands/plan.js';
import { register as registerApply } from './commands/apply.js';
import { register as registerRun } from './commands/run.js';
import { register as registerStatus } from './commands/status.js';
import { register as registerAdopt } from './commands/adopt.js';
import { register as registerRecover } from './commands/recover.js';
import { register as registerCompletion } from './commands/completion.js';
import { register as registerState } from './commands/state.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
/** A usage error is an error like any other: 2 means "changes pending" only. */
export const EXIT_USAGE = 1;

export function buildProgram(): Command {
  const program = new Command('workerctl')
    .description('declarative controller for Proxmox VE backup and restore worker VMs')
    .showHelpAfterError('(run workerctl --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      examples([
        ['workerctl run -f examples/ --simulate', 'the demo fleet on the embedded Proxmox VE simulator'],
        ['workerctl validate -o github workers/', 'check manifests (CI: annotations)'],
        ['workerctl plan -f workers/ --controller https://ctl:8080 -o markdown', 'plan a pull request'],
        ['workerctl <command> --help', 'each command, with examples'],
      ]),
    );
  registerVersion(program);
  registerValidate(program);
  registerSimulator(program);
  registerTest(program);
  registerSession(program);
  registerPlan(program);
  registerApply(program);
  registerRun(program);
  registerStatus(program);
  registerAdopt(program);
  registerRecover(program);
  registerCompletion(program);
  registerState(program);
  return program;
}

/** Runs the CLI; resolves to the exit code (never calls process.exit itself). */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT_OK;
      if (err.code === 'commander.help') return EXIT_OK;
      return EXIT_USAGE;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`workerctl: ${safeText(err.message)}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`workerctl: ${safeText(redactText(errorMessage(err)))}\n`);
    return EXIT_FAILURE;
  }
}
