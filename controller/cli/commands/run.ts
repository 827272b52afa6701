/**
 * `workerctl run -f DIR`: the controller. Watches the manifests, reconciles continuously, resyncs on a
 * jittered interval, and stops cleanly on SIGTERM/SIGINT (a second signal exits at once). On a
 * terminal it draws the live view; otherwise it writes structured log lines.
 *
 * Add-ons: anything that lives as long as the controller (the HTTP API of `--listen`, session lease
 * expiry) implements RunAddon and is started after the controller and stopped before it.
 */
import type { Command } from 'commander';
import { addConnectionOptions, type ConnectionOptions } from '../connection.js';
import { createManifestLoader } from '../../manifest/cached-loader.js';
import {
  addApiOptions,
  addConvergeOptions,
  commandLogger,
  manifestPaths,
  resyncOption,
  settingsFrom,
  simulatorFrom,
  type ConvergeFlags,
} from '../command-support.js';
import { Controller } from '../../loop/controller.js';
import { durationOption } from '../../duration.js';
import { LiveView } from '../present/live-view.js';
import { runAddons, type RunAddon } from '../../compose/addons.js';
import { openRuntime } from '../../compose/runtime.js';
import { Option } from 'commander';

export type RunFlags = ConvergeFlags &
  ConnectionOptions & { resync?: number; grace: number; debounce?: number; view?: boolean };

/** Time scale of the embedded simulator for `run --simulate` (realistic profile): a demo in tens of seconds. */
export const DEMO_TIME_SCALE = 10;

export function register(program: Command): void {
  const cmd = program
    .command('run')
    .description('run the controller: watch the manifests, reconcile, resync; stop with Ctrl-C or SIGTERM')
    .addOption(resyncOption())
    .addOption(
      new Option('--grace <duration>', 'on stop, how long in-flight reconciles may finish')
        .argParser(durationOption('--grace'))
        .default(10_000, '10s'),
    )
    .addOption(
      new Option('--debounce <duration>', 'quiet period after a manifest change before reloading')
        .argParser(durationOption('--debounce'))
        .hideHelp(),
    )
    .option('--no-view', 'no live table on a terminal; log lines instead');
  addConvergeOptions(cmd);
  addConnectionOptions(cmd);
  addApiOptions(cmd);
  cmd.action(async (flags: RunFlags) => {
    process.exitCode = await runController(flags);
  });
}

/** Runs until a signal (or `until` resolves); returns the exit code. */
export async function runController(flags: RunFlags, addons: RunAddon[] = runAddons): Promise<number> {
  const paths = manifestPaths(flags);
  const view = new LiveView({
    out: process.stdout,
    tty: flags.view !== false && Boolean(process.stdout.isTTY),
    title: `workerctl run -f ${paths.join(' ')}`,
  });
  const logger = commandLogger(flags, 'info', view.isTTY ? view.logStream() : undefined);
  view.useLogger(logger);
  const rt = await openRuntime({
    connection: flags,
    settings: settingsFrom(flags),
    logger,
    simulator: simulatorFrom(flags, { latency: 'realistic', timeScale: DEMO_TIME_SCALE }),
    clientOptions: { onCall: (info) => addons.forEach((a) => a.onProxmoxCall?.(info)) },
  });
  logger.info('connected', { target: rt.target, stateDir: rt.stateDir });
  const started: RunAddon[] = [];
  try {
    for (const a of addons) {
      if (!a.prepare) continue;
      started.push(a);
      await a.prepare({ runtime: rt, flags: { ...flags }, logger });
    }
  } catch (err) {
    for (const a of started) await a.stop().catch(() => undefined);
    await rt.close();
    throw err;
  }
  // One cache for the life of the run: a reload parses only the files that changed.
  const loader = createManifestLoader();
  const controller = new Controller({
    manifestPaths: paths,
    load: () => loader.load(paths),
    reconciler: rt.reconciler,
    store: rt.store,
    settings: rt.settings,
    logger,
    clock: rt.clock,
    workers: flags.concurrency,
    debounce:
      flags.debounce !== undefined ? { quietMs: flags.debounce, maxWaitMs: flags.debounce * 2.5 } : undefined,
  });
  for (const event of ['loaded', 'reconciled', 'resync', 'load-failed'] as const)
    controller.on(event, () => view.update());

  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn('second signal: exiting now', { signal });
      process.exit(130);
    }
    logger.info('stopping', { signal });
    stopping = (async () => {
      for (const a of started.reverse()) {
        try {
          await a.stop();
        } catch (err) {
          logger.warn('add-on failed to stop', { addon: a.name, err });
        }
      }
      await controller.stop(flags.grace);
    })();
  };
  const onInt = () => stop('SIGINT');
  const onTerm = () => stop('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    await controller.start();
    view.attach(() => controller.snapshot());
    view.update();
    for (const a of addons) {
      await a.start({ controller, runtime: rt, flags: { ...flags }, logger });
      if (!started.includes(a)) started.push(a);
    }
    await new Promise<void>((resolve) => controller.once('stopped', () => resolve()));
    await stopping;
    return 0;
  } catch (err) {
    logger.error('controller failed', { err });
    if (!stopping) for (const a of started) await a.stop().catch(() => undefined);
    if (!stopping) await controller.stop(flags.grace).catch(() => undefined);
    throw err;
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    view.close();
    await rt.close();
  }
}
