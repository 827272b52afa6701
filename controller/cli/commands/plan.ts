/**
 * `workerctl plan -f DIR`: what apply would do and why, per worker, with each change's class.
 * Read-only: the Proxmox client refuses mutating calls and the store is an in-memory copy. With
 * `--controller URL` the running controller plans the manifests against its own state and a fresh
 * observation (cli/remote-plan.ts): a CI job needs no state and no Proxmox credentials.
 * Exit codes (Terraform's -detailed-exitcode): 0 no changes, 2 changes pending, 1 error, including
 * invalid manifests and anything only a person can fix (a conflict, the mass-delete guard, a worker
 * that cannot be deployed as the cluster is: no template, a template that lacks what the worker
 * needs, no deploy path; each named with what to change).
 */
import type { Command } from 'commander';
import { ControllerApiError, ControllerClient } from '../../api/client.js';
import { ConfigError } from '../../errors.js';
import { openApp } from '../../compose/app.js';
import { findBlockers } from '../../loop/blockers.js';
import { displayPath } from '../../manifest/finding.js';
import { manifestRevision } from '../../manifest/git-revision.js';
import { loadManifests } from '../../manifest/load.js';
import type { Diagnostic, LoadResult, SourceRef } from '../../types.js';
import {
  addConvergeOptions,
  commandLogger,
  manifestPaths,
  settingsFrom,
  simulatorFrom,
  type ConvergeFlags,
} from '../command-support.js';
import { addConnectionOptions, type ConnectionOptions } from '../connection.js';
import { examples } from '../help.js';
import { outputOption, printStructured } from '../output.js';
import {
  formatBlockerErrors,
  formatPlanDiagnostics,
  formatPlanGithub,
  formatPlanMarkdown,
  formatPlanTable,
  planExitCode,
  planReportData,
  PLAN_EXIT_ERROR,
  type PlanReport,
} from '../present/plan-report.js';
import { formatDiagnostics } from '../present/plan-output.js';
import { collectPostSet, planRemotely } from '../remote-plan.js';
import { interruptible } from '../signals.js';
import type { ApiOptions } from './api-options.js';

export { PLAN_EXIT_CHANGES, PLAN_EXIT_CONVERGED, PLAN_EXIT_ERROR } from '../present/plan-report.js';

type PlanFlags = ConvergeFlags & ConnectionOptions & ApiOptions & { output: string };

export function register(program: Command): void {
  const cmd = program
    .command('plan')
    .description('show what apply would change and why; exit 0 no changes, 2 changes pending, 1 error')
    .addOption(outputOption(['markdown', 'github']));
  addConvergeOptions(cmd, { selector: true });
  addConnectionOptions(cmd);
  cmd
    .option(
      '--controller <url>',
      'plan at this running controller, against its state (env WORKERCTL_CONTROLLER when no --server/--simulate)',
    )
    .option(
      '--api-token-file <file>',
      'with --controller: file holding its API token (env WORKERCTL_API_TOKEN holds the token itself)',
    )
    .addHelpText(
      'after',
      examples([
        [
          'workerctl plan -f workers/ --server https://pve1:8006 --token-file pve-token',
          'against Proxmox and .workerctl',
        ],
        [
          'workerctl plan -f workers/ --controller https://workerctl:8080 -o markdown',
          'a pull request: at the controller',
        ],
        ['workerctl plan -f workers/ -l site=dc1 --simulate', 'only the workers labelled site=dc1'],
        [
          'workerctl plan -f workers/ --simulate; [ $? -eq 2 ] && workerctl apply ...',
          'apply only when changes are pending',
        ],
      ]),
    );
  cmd.action(async (flags: PlanFlags) => {
    process.exitCode = await runPlan(flags);
  });
}

/** Plans at a controller when one is named and no Proxmox connection is. */
function remoteController(flags: PlanFlags): string | undefined {
  if (flags.controller) return flags.controller;
  if (flags.server || flags.simulate) return undefined;
  return process.env.WORKERCTL_CONTROLLER || undefined;
}

async function runPlan(flags: PlanFlags): Promise<number> {
  const paths = manifestPaths(flags);
  return interruptible('plan', flags.grace, async (signal) => {
    const report = await (remoteController(flags)
      ? planAtController(flags, paths, signal)
      : planLocally(flags, paths));
    if (!report) return PLAN_EXIT_ERROR;
    printReport(report, flags.output);
    return planExitCode(report);
  });
}

function printReport(report: PlanReport, format: string): void {
  if (printStructured(format, planReportData(report))) return;
  if (format === 'markdown') process.stdout.write(formatPlanMarkdown(report));
  else if (format === 'github') process.stdout.write(formatPlanGithub(report));
  else {
    const diagnostics = formatPlanDiagnostics(report);
    if (diagnostics) process.stderr.write(diagnostics + '\n');
    process.stdout.write(formatPlanTable(report, process.stdout.columns ?? 120) + '\n');
    if (report.blocked.length > 0) process.stderr.write(formatBlockerErrors(report.blocked) + '\n');
    const invalid = new Set(report.diagnostics.filter((d) => d.severity === 'error').map((d) => d.file));
    if (invalid.size > 0)
      process.stderr.write(
        `\n${invalid.size} invalid manifest file(s): their workers keep their last valid spec.\n`,
      );
  }
}

function shown(load: LoadResult): { diagnostics: Diagnostic[]; sources: Record<string, SourceRef> } {
  const sources: Record<string, SourceRef> = {};
  for (const w of load.workers) sources[w.spec.name] = { ...w.source, file: displayPath(w.source.file) };
  return { diagnostics: load.diagnostics.map((d) => ({ ...d, file: displayPath(d.file) })), sources };
}

async function planLocally(flags: PlanFlags, paths: string[]): Promise<PlanReport> {
  const logger = commandLogger(flags, 'warn');
  const load = await loadManifests(paths);
  const revision = await manifestRevision(paths);
  if (revision) load.revision = revision.commit;
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
    const { diagnostics, sources } = shown(load);
    const report: PlanReport = {
      plan,
      diagnostics,
      sources,
      blocked: findBlockers(plan, { records: app.store.listWorkers(), display: (f) => displayPath(f) })
        .blocked,
      against: `the state in ${displayPath(app.stateDir)}`,
    };
    if (revision) report.revision = revision;
    return report;
  } finally {
    await app.close();
  }
}

async function planAtController(
  flags: PlanFlags,
  paths: string[],
  signal: AbortSignal,
): Promise<PlanReport | undefined> {
  const client = new ControllerClient({
    controller: remoteController(flags),
    apiTokenFile: flags.apiTokenFile,
  });
  const set = await collectPostSet(paths);
  if (set.problems.length > 0) {
    // A missing -f directory is not "no workers wanted": nothing is asked of the controller.
    process.stderr.write(formatDiagnostics(set.problems) + '\n');
    return undefined;
  }
  const revision = await manifestRevision(paths);
  const remote = await planRemotely(client, set, {
    allowMassDelete: Boolean(flags.allowMassDelete),
    selector: flags.selector?.join(','),
    revision,
    signal,
  }).catch((err: unknown) => {
    if (err instanceof ControllerApiError && (err.status === 401 || err.status === 403))
      throw new ConfigError(
        `the controller at ${client.url} refused the plan (${err.status}): pass its API token with --api-token-file FILE or WORKERCTL_API_TOKEN`,
      );
    throw err;
  });
  const plan = remote.response.plan;
  const report: PlanReport = {
    plan,
    diagnostics: remote.diagnostics,
    sources: remote.sources,
    blocked: findBlockers(plan, { diagnostics: [] }).blocked,
    against: `the controller at ${client.url}${remote.response.controllerRevision ? ` (its manifests at ${remote.response.controllerRevision.slice(0, 7)})` : ''}`,
  };
  if (revision) report.revision = revision;
  return report;
}
