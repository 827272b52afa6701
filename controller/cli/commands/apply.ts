/**
 * `workerctl apply -f DIR [--wait] [--timeout D] [--allow-mass-delete]`: carries the plan out. Refuses
 * to start when a manifest is invalid (exit 1, nothing changed). Without --wait it returns once every
 * planned step has been started (Proxmox tasks may still run; `run` or another apply picks them up);
 * with --wait it returns when the fleet has converged, or exits 1 naming each worker that has not and
 * why. Progress is drawn on a terminal, logged otherwise.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { addConnectionOptions, type ConnectionOptions } from '../connection.js';
import { createManifestLoader } from '../../manifest/cached-loader.js';
import {
  addConvergeOptions,
  commandLogger,
  manifestPaths,
  settingsFrom,
  simulatorFrom,
  type ConvergeFlags,
} from '../command-support.js';
import { durationOption, formatDuration } from '../../duration.js';
import { LiveView } from '../present/live-view.js';
import { formatDiagnostics, formatPlan } from '../present/plan-output.js';
import { isReady } from '../../loop/snapshot.js';
import { openApp } from '../../compose/app.js';
import { DEMO_TIME_SCALE } from './run.js';
import { safeLine } from '../../terminal-text.js';

type ApplyFlags = ConvergeFlags & ConnectionOptions & { wait?: boolean; timeout: number; progress?: boolean };

export function register(program: Command): void {
  const cmd = program
    .command('apply')
    .description('carry out the plan; with --wait, return when the fleet has converged')
    .option('--wait', 'wait until the fleet has converged (exit 1 with the reasons if it does not in time)')
    .addOption(
      new Option('--timeout <duration>', 'with --wait: how long to wait, e.g. 10m')
        .argParser(durationOption('--timeout'))
        .default(15 * 60_000, '15m'),
    )
    .option('--no-progress', 'no live table on a terminal; log lines instead');
  addConvergeOptions(cmd);
  addConnectionOptions(cmd);
  cmd.action(async (flags: ApplyFlags) => {
    process.exitCode = await runApply(flags);
  });
}

async function runApply(flags: ApplyFlags): Promise<number> {
  const paths = manifestPaths(flags);
  // One cache for the run: the controller's own load then re-reads only files that changed since.
  const loader = createManifestLoader();
  const load = await loader.load(paths);
  if (load.diagnostics.length > 0) process.stderr.write(formatDiagnostics(load.diagnostics) + '\n');
  if (load.diagnostics.some((d) => d.severity === 'error')) {
    process.stderr.write(
      `apply refused: ${load.invalidFiles.length} invalid manifest file(s); nothing was changed\n`,
    );
    return 1;
  }

  const view = new LiveView({
    out: process.stdout,
    tty: flags.progress !== false && Boolean(process.stdout.isTTY),
    title: `workerctl apply -f ${paths.join(' ')}`,
  });
  const logger = commandLogger(flags, 'info', view.isTTY ? view.logStream() : undefined);
  view.useLogger(logger);
  const app = await openApp({
    connection: flags,
    settings: settingsFrom(flags),
    logger,
    simulator: simulatorFrom(flags, { latency: 'realistic', timeScale: DEMO_TIME_SCALE }),
    controller: {
      manifestPaths: paths,
      load: () => loader.load(paths),
      workers: flags.concurrency,
      watch: false,
      resyncIntervalMs: 0,
    },
  });
  const controller = app.controller!;
  const lastError = new Map<string, string | undefined>();
  controller.on('reconciled', (e) => {
    lastError.set(e.worker, e.error);
    view.update();
  });
  let blocked = false;
  controller.once('loaded', (e) => {
    blocked = Boolean(e.plan.massDeleteBlocked);
    // What is about to be done, as `plan` shows it (also in CI logs).
    process.stdout.write(formatPlan(e.plan, process.stdout.columns ?? 120) + '\n\n');
  });
  const stopOnSignal = () => void app.stop(5_000);
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  const t0 = Date.now();
  let code = 0;
  try {
    await app.start();
    view.attach(() => controller.snapshot());
    if (flags.wait) {
      const res = await controller.waitForConvergence(flags.timeout);
      view.close();
      if (res.converged) {
        process.stdout.write(`converged in ${formatDuration(Date.now() - t0)}\n`);
      } else {
        code = 1;
        process.stderr.write(
          `not converged after ${formatDuration(Date.now() - t0)}; ${res.pending.length} worker(s) pending:\n` +
            res.pending.map((p) => `  ${p.worker}: ${safeLine(p.reason)}`).join('\n') +
            '\n',
        );
      }
    } else {
      await controller.waitForIdle();
      view.close();
      const failed = [...lastError].filter(([, err]) => err !== undefined);
      const records = app.store.listWorkers();
      process.stdout.write(
        `applied: ${records.filter(isReady).length} of ${records.length} workers Ready` +
          ` (${formatDuration(Date.now() - t0)}); tasks still running continue in Proxmox - ` +
          'use --wait to wait for convergence\n',
      );
      if (failed.length > 0) {
        code = 1;
        process.stderr.write(failed.map(([w, err]) => `  ${w}: ${safeLine(String(err))}`).join('\n') + '\n');
      }
    }
    if (blocked) {
      code = 1;
      process.stderr.write(
        'deletions were held back by the mass-delete guard; rerun with --allow-mass-delete\n',
      );
    }
  } finally {
    process.off('SIGINT', stopOnSignal);
    process.off('SIGTERM', stopOnSignal);
    view.close();
    await app.stop(10_000);
    await app.close();
  }
  return code;
}
