/**
 * `workerctl apply -f DIR [--wait] [--timeout D] [--allow-mass-delete]`: carries the plan out. Refuses
 * to start when a manifest is invalid (exit 1, nothing changed). Without --wait it returns once every
 * planned step has been started (Proxmox tasks may still run; `run` or another apply picks them up);
 * with --wait it returns when the fleet has converged, exits 1 as soon as what is left waits for a
 * person (a conflict, the mass-delete guard, a missing template: loop/blockers.ts), naming each with
 * its reason and fix, or exits 1 naming each worker that has not converged in time. SIGTERM/SIGINT
 * stop it within --grace (exit 1). Progress is drawn on a terminal, logged otherwise.
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
import { formatBlockers } from '../present/plan-report.js';
import { isReady } from '../../loop/snapshot.js';
import type { Blocker } from '../../loop/blockers.js';
import type { NotConverged } from '../../loop/controller.js';
import { openApp } from '../../compose/app.js';
import { examples } from '../help.js';
import { outputOption, printStructured } from '../output.js';
import { onStopSignals, stopReserveMs, untilStopped } from '../signals.js';
import { DEMO_TIME_SCALE } from './run.js';
import { safeLine } from '../../terminal-text.js';

type ApplyFlags = ConvergeFlags &
  ConnectionOptions & { wait?: boolean; timeout: number; progress?: boolean; view?: boolean; output: string };

/** What `apply -o json|yaml` prints at the end. */
interface ApplyResult {
  result: 'converged' | 'applied' | 'blocked' | 'timeout' | 'failed' | 'interrupted' | 'refused';
  elapsedMs: number;
  workers: number;
  ready: number;
  pending: NotConverged[];
  blocked: Blocker[];
}

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
    .option('--no-progress', 'no live table on a terminal; log lines instead')
    // The name `run` had for the same thing, kept as an alias.
    .addOption(new Option('--no-view', 'same as --no-progress').hideHelp())
    .addOption(outputOption());
  addConvergeOptions(cmd, { selector: true });
  addConnectionOptions(cmd);
  cmd.addHelpText(
    'after',
    examples([
      [
        'workerctl apply -f workers/ --server https://pve1:8006 --token-file pve-token --wait',
        'converge, then exit 0',
      ],
      [
        'workerctl apply -f workers/ --simulate --wait --timeout 2m',
        'the same against the embedded simulator',
      ],
      ['workerctl apply -f workers/ --wait -l site=dc1 -o json', 'only site=dc1; the result as JSON'],
    ]),
  );
  cmd.action(async (flags: ApplyFlags) => {
    process.exitCode = await runApply(flags);
  });
}

async function runApply(flags: ApplyFlags): Promise<number> {
  const t0 = Date.now();
  const paths = manifestPaths(flags);
  const structured = flags.output === 'json' || flags.output === 'yaml';
  // Everything for people goes to stderr when stdout carries the JSON or YAML result.
  const say = (text: string) => (structured ? process.stderr : process.stdout).write(text);
  const finish = (r: Omit<ApplyResult, 'elapsedMs'>, code: number): number => {
    printStructured(flags.output, { ...r, elapsedMs: Date.now() - t0 });
    return code;
  };
  let app: Awaited<ReturnType<typeof openApp>> | undefined = undefined;
  const stop = onStopSignals({
    graceMs: flags.grace,
    onSignal: (name) => {
      process.stderr.write(`workerctl: ${name}: stopping (at most ${formatDuration(flags.grace)})\n`);
      void app?.stop(flags.grace - stopReserveMs(flags.grace));
    },
  });
  try {
    // One cache for the run: the controller's own load then re-reads only files that changed since.
    const loader = createManifestLoader();
    const load = await loader.load(paths);
    if (load.diagnostics.length > 0) process.stderr.write(formatDiagnostics(load.diagnostics) + '\n');
    if (load.diagnostics.some((d) => d.severity === 'error')) {
      process.stderr.write(
        `apply refused: ${load.invalidFiles.length} invalid manifest file(s); nothing was changed\n`,
      );
      return finish({ result: 'refused', workers: 0, ready: 0, pending: [], blocked: [] }, 1);
    }

    const view = new LiveView({
      out: process.stdout,
      tty: !structured && flags.progress !== false && flags.view !== false && Boolean(process.stdout.isTTY),
      title: `workerctl apply -f ${paths.join(' ')}`,
    });
    const logger = commandLogger(flags, 'info', view.isTTY ? view.logStream() : undefined);
    view.useLogger(logger);
    app = await openApp({
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
    if (stop.signal.aborted) return finish(interrupted(), 1);
    const controller = app.controller!;
    const lastError = new Map<string, string | undefined>();
    controller.on('reconciled', (e) => {
      lastError.set(e.worker, e.error);
      view.update();
    });
    let held: Blocker | undefined;
    controller.once('loaded', (e) => {
      if (e.plan.massDeleteBlocked) {
        const m = e.plan.massDeleteBlocked;
        held = {
          reason: 'MassDeleteGuard',
          message: `${m.wouldDelete} of ${m.of} workers would be deleted (${m.threshold})`,
          fix: 'restore the manifests, or rerun with --allow-mass-delete to delete them',
        };
      }
      // What is about to be done, as `plan` shows it (also in CI logs).
      say(formatPlan(e.plan, process.stdout.columns ?? 120) + '\n\n');
    });
    const counts = () => {
      const records = app!.store.listWorkers().filter((r) => app!.core.inScope(r.name));
      return { workers: records.length, ready: records.filter(isReady).length };
    };
    try {
      // A signal during the start (a first pass that waits for Proxmox) ends the command at once.
      const started = await untilStopped(app.start(), stop.signal).then(
        () => true,
        (err: unknown) => {
          if (!stop.signal.aborted) throw err;
          return false;
        },
      );
      if (!started) return finish(interrupted(), 1);
      view.attach(() => controller.snapshot());
      if (flags.wait) {
        const res = await controller.waitForConvergence(flags.timeout, { signal: stop.signal });
        view.close();
        const summary = { ...counts(), pending: res.pending, blocked: res.blocked ?? [] };
        if (res.interrupted || stop.signal.aborted) return finish({ ...summary, result: 'interrupted' }, 1);
        if (res.converged) {
          say(`converged in ${formatDuration(Date.now() - t0)}\n`);
          return finish({ ...summary, result: 'converged' }, 0);
        }
        if (res.blocked) {
          process.stderr.write(
            `not converged: nothing more happens on its own (after ${formatDuration(Date.now() - t0)}).\n` +
              formatBlockers(res.blocked) +
              '\n',
          );
          return finish({ ...summary, result: 'blocked' }, 1);
        }
        process.stderr.write(
          `not converged after ${formatDuration(Date.now() - t0)}; ${res.pending.length} worker(s) pending:\n` +
            res.pending.map((p) => `  ${p.worker}: ${safeLine(p.reason)}`).join('\n') +
            '\n',
        );
        return finish({ ...summary, result: 'timeout' }, 1);
      }
      await controller.waitForIdle(stop.signal).catch(() => undefined);
      view.close();
      if (stop.signal.aborted) return finish(interrupted(), 1);
      const failed = [...lastError].filter(([, err]) => err !== undefined);
      const c = counts();
      say(
        `applied: ${c.ready} of ${c.workers} workers Ready (${formatDuration(Date.now() - t0)}); ` +
          'tasks still running continue in Proxmox - use --wait to wait for convergence\n',
      );
      const pending = failed.map(([worker, err]) => ({ worker, reason: err ?? '' }));
      if (failed.length > 0)
        process.stderr.write(pending.map((p) => `  ${p.worker}: ${safeLine(p.reason)}`).join('\n') + '\n');
      if (held) process.stderr.write(formatBlockers([held]) + '\n');
      const code = failed.length > 0 || held ? 1 : 0;
      return finish(
        { ...c, pending, blocked: held ? [held] : [], result: code ? 'failed' : 'applied' },
        code,
      );
    } finally {
      view.close();
      await app.stop(flags.grace - stopReserveMs(flags.grace));
      await app.close();
    }
  } finally {
    if (stop.received) process.stderr.write(`workerctl: apply interrupted by ${stop.received}\n`);
    stop.dispose();
  }

  function interrupted(): Omit<ApplyResult, 'elapsedMs'> {
    return { result: 'interrupted', workers: 0, ready: 0, pending: [], blocked: [] };
  }
}
