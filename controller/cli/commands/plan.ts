/**
 * `workerctl plan -f DIR`: what apply would do and why, per worker, with each change's class.
 * Read-only: the Proxmox client refuses mutating calls and the store is an in-memory copy.
 * Exit codes (Terraform's -detailed-exitcode): 0 no changes, 2 changes pending, 1 error (also a worker
 * that cannot be deployed as the cluster is: no template, a template that lacks what the worker
 * needs, no deploy path; each named with what to change).
 */
import { Option, type Command } from 'commander';
import { addConnectionOptions, type ConnectionOptions } from '../connection.js';
import { loadManifests } from '../../manifest/load.js';
import {
  addConvergeOptions,
  commandLogger,
  manifestPaths,
  settingsFrom,
  simulatorFrom,
  type ConvergeFlags,
} from '../command-support.js';
import { formatDiagnostics, formatPlan, planJson } from '../present/plan-output.js';
import { safeJson } from '../../terminal-text.js';
import { openApp } from '../../compose/app.js';

export const PLAN_EXIT_CONVERGED = 0;
export const PLAN_EXIT_ERROR = 1;
export const PLAN_EXIT_CHANGES = 2;

type PlanFlags = ConvergeFlags & ConnectionOptions & { output: 'text' | 'json' };

export function register(program: Command): void {
  const cmd = program
    .command('plan')
    .description('show what apply would change and why; exit 0 no changes, 2 changes pending, 1 error')
    .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'));
  addConvergeOptions(cmd);
  addConnectionOptions(cmd);
  cmd.action(async (flags: PlanFlags) => {
    process.exitCode = await runPlan(flags);
  });
}

async function runPlan(flags: PlanFlags): Promise<number> {
  const paths = manifestPaths(flags);
  const logger = commandLogger(flags, 'warn');
  const load = await loadManifests(paths);
  const errors = load.diagnostics.filter((d) => d.severity === 'error');
  if (flags.output === 'text' && load.diagnostics.length > 0) {
    process.stderr.write(formatDiagnostics(load.diagnostics) + '\n');
  }
  const app = await openApp({
    connection: flags,
    settings: settingsFrom(flags),
    logger,
    readOnly: true,
    simulator: simulatorFrom(flags),
  });
  try {
    await app.core.applyDesired(load);
    await app.core.observe();
    const plan = await app.core.plan();
    if (flags.output === 'json') {
      process.stdout.write(safeJson(JSON.stringify(planJson(plan, load.diagnostics), null, 2)) + '\n');
    } else {
      process.stdout.write(formatPlan(plan, process.stdout.columns ?? 120) + '\n');
      if (errors.length > 0) {
        process.stderr.write(
          `\n${load.invalidFiles.length} invalid manifest file(s): their workers keep their last valid spec.\n`,
        );
      }
    }
    const refused = plan.actions.filter((a) => a.kind === 'create' && a.blockedBy);
    if (flags.output === 'text') for (const a of refused) process.stderr.write(`error: ${a.blockedBy}\n`);
    if (errors.length > 0 || refused.length > 0) return PLAN_EXIT_ERROR;
    return plan.converged ? PLAN_EXIT_CONVERGED : PLAN_EXIT_CHANGES;
  } finally {
    await app.close();
  }
}
