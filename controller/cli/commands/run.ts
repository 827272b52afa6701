/**
 * `workerctl run -f DIR`: the controller. Watches the manifests, reconciles continuously, resyncs on a
 * jittered interval, serves the lifecycle's HTTP API (`--listen`), and stops cleanly on
 * SIGTERM/SIGINT within --grace (a second signal exits at once; cli/signals.ts). On a terminal it
 * draws the live view; otherwise it writes structured log lines. Everything is built by the
 * composition root (compose/app.ts).
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { openApp } from '../../compose/app.js';
import { DEFAULT_LISTEN } from '../../api/server.js';
import { durationOption } from '../../duration.js';
import type { LifecycleSettings } from '../../lifecycle/settings.js';
import {
  addApiOptions,
  addConvergeOptions,
  commandLogger,
  lifecycleSettingsFrom,
  manifestPaths,
  resyncOption,
  settingsFrom,
  simulatorFrom,
  type ApiFlags,
  type ConvergeFlags,
} from '../command-support.js';
import { addConnectionOptions, type ConnectionOptions } from '../connection.js';
import { LiveView } from '../present/live-view.js';
import { examples } from '../help.js';
import { onStopSignals, stopReserveMs, untilStopped } from '../signals.js';

export type RunFlags = ConvergeFlags &
  ConnectionOptions &
  ApiFlags & {
    resync?: number;
    debounce?: number;
    progress?: boolean;
    view?: boolean;
    removalDelay?: number;
  };

/**
 * How long `run` lets a worker stay undeclared before removing it: far longer than any editor's
 * or checkout's half-written moment, short enough that a removal still goes through at once.
 */
export const DEFAULT_REMOVAL_DELAY_MS = 10_000;

/** Time scale of the embedded simulator for `run --simulate` (realistic profile): a demo in tens of seconds. */
export const DEMO_TIME_SCALE = 10;

export function register(program: Command): void {
  const cmd = program
    .command('run')
    .description('run the controller: watch the manifests, reconcile, resync; stop with Ctrl-C or SIGTERM')
    .addOption(resyncOption())
    .addOption(
      new Option(
        '--removal-delay <duration>',
        'a worker no manifest declares any more is removed only after it stayed undeclared this long (0: at once)',
      )
        .argParser(durationOption('--removal-delay'))
        .default(DEFAULT_REMOVAL_DELAY_MS, '10s'),
    )
    .addOption(
      new Option('--debounce <duration>', 'quiet period after a manifest change before reloading')
        .argParser(durationOption('--debounce'))
        .hideHelp(),
    )
    .option('--no-progress', 'no live table on a terminal; log lines instead')
    // The old name of --no-progress, kept as an alias.
    .addOption(new Option('--no-view', 'same as --no-progress').hideHelp());
  addConvergeOptions(cmd);
  addConnectionOptions(cmd);
  addApiOptions(cmd);
  cmd.addHelpText(
    'after',
    examples([
      ['workerctl run -f examples/ --simulate', 'the demo: the example fleet on the embedded simulator'],
      [
        'workerctl run -f /srv/gitops/workers --server https://pve1:8006 --token-file /etc/workerctl/pve-token',
        'the controller (systemd: see examples/deploy/workerctl.service)',
      ],
      [
        'workerctl run -f workers/ --simulate --listen 127.0.0.1:9090 --no-progress',
        'API on another port, log lines',
      ],
    ]),
  );
  cmd.action(async (flags: RunFlags) => {
    process.exitCode = await runController(flags);
  });
}

/** Runs until a signal; returns the exit code. `lifecycle` overrides settings (benchmarks). */
export async function runController(
  flags: RunFlags,
  lifecycle: Partial<LifecycleSettings> = {},
): Promise<number> {
  const paths = manifestPaths(flags);
  const view = new LiveView({
    out: process.stdout,
    tty: flags.progress !== false && flags.view !== false && Boolean(process.stdout.isTTY),
    title: `workerctl run -f ${paths.join(' ')}`,
  });
  const logger = commandLogger(flags, 'info', view.isTTY ? view.logStream() : undefined);
  view.useLogger(logger);
  let stopping: Promise<void> | undefined;
  // In-flight reconciles get the grace period less what the abort and the final flush need.
  const inFlightMs = flags.grace - stopReserveMs(flags.grace);
  let app: Awaited<ReturnType<typeof openApp>> | undefined = undefined;
  const signals = onStopSignals({
    graceMs: flags.grace,
    onSignal: (signal) => {
      logger.info('stopping', { signal, graceMs: flags.grace });
      stopping = app?.stop(inFlightMs);
    },
  });
  try {
    app = await openApp({
      connection: flags,
      settings: { ...settingsFrom(flags), removalSettleMs: flags.removalDelay ?? DEFAULT_REMOVAL_DELAY_MS },
      logger,
      simulator: simulatorFrom(flags, { latency: 'realistic', timeScale: DEMO_TIME_SCALE }),
      controller: {
        manifestPaths: paths,
        workers: flags.concurrency,
        debounce:
          flags.debounce !== undefined
            ? { quietMs: flags.debounce, maxWaitMs: flags.debounce * 2.5 }
            : undefined,
      },
      lifecycle: { settings: { ...lifecycleSettingsFrom(flags), ...lifecycle } },
      api: {
        listen: flags.listen ?? DEFAULT_LISTEN,
        // An explicit --listen must work; the default address may be taken by another controller.
        optional: flags.listen === undefined,
        allowInsecureListen: flags.allowInsecureListen,
        tokenFile: flags.apiTokenFile,
      },
    });
  } catch (err) {
    // A start that failed (a bad flag, an unreachable server, a held state lock) leaves nothing behind.
    view.close();
    signals.dispose();
    throw err;
  }
  logger.info('connected', { target: app.target, stateDir: app.stateDir });
  const controller = app.controller!;
  for (const event of ['loaded', 'reconciled', 'resync', 'load-failed'] as const)
    controller.on(event, () => view.update());

  if (signals.signal.aborted) {
    await app.close();
    signals.dispose();
    return 0;
  }
  try {
    const stopped = new Promise<void>((resolve) => controller.once('stopped', () => resolve()));
    // A signal during the start (a first pass that waits for Proxmox) stops it: nothing is in flight.
    const started = await untilStopped(app.start(), signals.signal).then(
      () => true,
      (err: unknown) => {
        if (!signals.signal.aborted) throw err;
        return false;
      },
    );
    if (started) {
      view.attach(() => controller.snapshot());
      view.update();
    }
    stopping ??= signals.signal.aborted ? app.stop(inFlightMs) : undefined;
    await stopped;
    await stopping;
    return 0;
  } catch (err) {
    logger.error('controller failed', { err });
    if (!stopping) await app.stop(inFlightMs).catch(() => undefined);
    throw err;
  } finally {
    view.close();
    await app.close();
    signals.dispose();
  }
}
