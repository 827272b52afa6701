/**
 * Flags and helpers shared by plan, apply and run: the manifest paths, the controller settings that
 * have flags, the concurrency, and a logger that suits the command.
 */
import { Option, type Command } from 'commander';
import { ConfigError, UsageError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import type { LifecycleSettings } from '../lifecycle/settings.js';
import type { ControllerSettings } from '../reconcile/contracts.js';
import { makeSettings } from '../reconcile/settings.js';
import { durationOption } from '../duration.js';
import { parseSelector } from '../selector.js';
import { loadManifests } from '../manifest/load.js';
import type { LoadResult } from '../types.js';
import { formatDiagnostics } from './present/plan-output.js';
import type { EmbeddedSimulatorOptions } from '../compose/app.js';
import { DEFAULT_LISTEN } from '../api/server.js';

/** Flags every converging command has (commander camel-cases them). */
export interface ConvergeFlags {
  filename?: string[];
  allowMassDelete?: boolean;
  concurrency?: number;
  logLevel?: string;
  logFormat?: 'json' | 'text';
  latency?: 'fast' | 'realistic';
  timeScale?: number;
  /** The old names of --latency and --time-scale (hidden aliases). */
  simLatency?: 'fast' | 'realistic';
  simTimeScale?: number;
  /** -l: label selectors (plan, apply). */
  selector?: string[];
  /** How long a stop on SIGTERM/SIGINT may take. */
  grace: number;
}

function positiveInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1)
      throw new UsageError(`${flag}: expected a whole number >= 1, got '${v}'`);
    return n;
  };
}

function positiveNumber(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag}: expected a number > 0, got '${v}'`);
    return n;
  };
}

/** --log-format: every command that logs has it. */
export const logFormatOption = (): Option =>
  new Option(
    '--log-format <format>',
    'log lines as json or text (default: text on a terminal, json otherwise)',
  )
    .choices(['json', 'text'])
    .env('WORKERCTL_LOG_FORMAT');

/**
 * -f/--filename (repeatable), --allow-mass-delete, --concurrency, --log-level, --grace, simulator
 * tuning (--latency, --time-scale: the names `workerctl simulator` uses; --sim-latency and
 * --sim-time-scale are their old hidden aliases) and, for plan and apply, -l/--selector.
 */
export function addConvergeOptions(
  cmd: Command,
  opts: { massDelete?: boolean; selector?: boolean } = {},
): Command {
  cmd.option('-f, --filename <path...>', 'manifest files or directories (walked recursively)');
  if (opts.selector) cmd.addOption(selectorOption());
  if (opts.massDelete !== false)
    cmd.option(
      '--allow-mass-delete',
      'allow deleting more than the guarded share of the workers in one pass (invariant 2)',
    );
  cmd
    .addOption(
      new Option('--concurrency <n>', 'reconciles at once (different workers)')
        .argParser(positiveInt('--concurrency'))
        .default(32),
    )
    .addOption(graceOption())
    .addOption(new Option('--log-level <level>', 'error, warn, info or debug').env('WORKERCTL_LOG_LEVEL'))
    .addOption(logFormatOption())
    .addOption(latencyOption('--latency <profile>'))
    .addOption(timeScaleOption('--time-scale <x>'))
    .addOption(latencyOption('--sim-latency <profile>').hideHelp())
    .addOption(timeScaleOption('--sim-time-scale <x>').hideHelp());
  return cmd;
}

function latencyOption(flags: string): Option {
  return new Option(flags, 'with --simulate: latency profile').choices(['fast', 'realistic']);
}

function timeScaleOption(flags: string): Option {
  return new Option(flags, 'with --simulate: simulated seconds per real second').argParser(
    positiveNumber(flags.split(' ')[0]!),
  );
}

/** -l/--selector: only workers whose labels match (repeatable; all must hold). */
export function selectorOption(): Option {
  return new Option(
    '-l, --selector <selector...>',
    'only workers whose labels match: key=value, key!=value, key, !key; comma-separated (all must hold)',
  );
}

/** --grace: how long a stop on SIGTERM/SIGINT may take, in all (cli/signals.ts). */
export function graceOption(): Option {
  return new Option('--grace <duration>', 'on SIGTERM/SIGINT: the most the clean stop may take')
    .argParser(durationOption('--grace'))
    .default(10_000, '10s');
}

/** The manifest paths, or a usage error saying how to give them. */
export function manifestPaths(flags: ConvergeFlags): string[] {
  const paths = flags.filename ?? [];
  if (paths.length === 0)
    throw new UsageError('no manifests given: pass -f DIR (or -f FILE), e.g. -f examples/');
  return paths;
}

/** The manifests when every file is valid; else their errors are printed and `command` refused. */
export async function validManifests(paths: string[], command: string): Promise<LoadResult | undefined> {
  const load = await loadManifests(paths);
  if (!load.diagnostics.some((d) => d.severity === 'error')) return load;
  process.stderr.write(
    `${formatDiagnostics(load.diagnostics)}\n${command} refused: fix the manifests first\n`,
  );
  return undefined;
}

/** Settings from the defaults and the flags. */
export function settingsFrom(flags: Omit<ConvergeFlags, 'grace'> & { resync?: number }): ControllerSettings {
  const overrides: Partial<ControllerSettings> = { allowMassDelete: Boolean(flags.allowMassDelete) };
  if (flags.resync !== undefined) overrides.resyncIntervalMs = flags.resync;
  const selector = parseSelector(flags.selector);
  if (selector) overrides.selector = selector;
  return makeSettings(overrides);
}

/** Simulator settings for --simulate (undefined: connect()'s defaults). */
export function simulatorFrom(
  flags: Omit<ConvergeFlags, 'grace'> & { simulate?: boolean },
  defaults?: EmbeddedSimulatorOptions,
): EmbeddedSimulatorOptions | undefined {
  if (!flags.simulate) return undefined;
  const latency = flags.latency ?? flags.simLatency;
  const timeScale = flags.timeScale ?? flags.simTimeScale;
  if (!defaults && !latency && !timeScale) return undefined;
  return {
    latency: latency ?? defaults?.latency ?? 'fast',
    timeScale: timeScale ?? defaults?.timeScale ?? 1,
  };
}

/** A logger on stderr (or the given stream) at the flag's level. */
export function commandLogger(
  flags: Pick<ConvergeFlags, 'logLevel' | 'logFormat'>,
  fallbackLevel: string,
  stream?: NodeJS.WritableStream,
): Logger {
  return createLogger({
    level: flags.logLevel ?? fallbackLevel,
    format: flags.logFormat ?? 'auto',
    stream,
    isTTY: stream ? true : undefined,
  });
}

/** `--resync` / `--timeout` parsers. */
export const resyncOption = (): Option =>
  new Option('--resync <duration>', 'full resync interval, e.g. 5m (0 disables)').argParser(
    durationOption('--resync'),
  );

/** The `run` flags of the lifecycle and its API (commander camel-cases them). */
export interface ApiFlags {
  listen?: string;
  allowInsecureListen?: boolean;
  apiTokenFile?: string;
  backupServer?: string;
  hostAddress?: string[];
  updateCommand?: string;
}

/** Lifecycle settings from the run flags (the composition root adds what the simulator knows). */
export function lifecycleSettingsFrom(flags: ApiFlags): Partial<LifecycleSettings> {
  const out: Partial<LifecycleSettings> = {};
  if (flags.backupServer !== undefined) out.backupServer = flags.backupServer;
  const hosts: Record<string, string> = {};
  for (const pair of flags.hostAddress ?? []) {
    const m = /^([^=\s]+)=(\S+)$/.exec(pair);
    if (!m) throw new ConfigError(`--host-address: '${pair}' is not NODE=ADDRESS (e.g. pve1=10.0.0.11)`);
    hosts[m[1]!] = m[2]!;
  }
  out.hostAddresses = hosts;
  if (flags.updateCommand !== undefined) {
    const cmd = flags.updateCommand.trim().split(/\s+/).filter(Boolean);
    if (cmd.length === 0) throw new ConfigError('--update-command: empty command');
    out.updateCommand = cmd;
  }
  return out;
}

/** Adds --listen, --api-token-file, --backup-server, --host-address and --update-command to `run`. */
export function addApiOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--listen <addr>',
        `HTTP API address (default ${DEFAULT_LISTEN}; when that is taken, run goes on without the API)`,
      ),
    )
    .option(
      '--allow-insecure-listen',
      'accept a non-loopback --listen although the API has no TLS (reads need no token; the write token travels in clear)',
    )
    .option(
      '--api-token-file <file>',
      'file holding the bearer token for API requests that change something (default: the systemd credential api-token, else generated in the state directory)',
    )
    .option('--backup-server <host>', 'backup server every worker test checks for reachability')
    .option(
      '--host-address <node=ip...>',
      'address a worker test pings for a Proxmox node (default: the node name; with --simulate: the simulated node IPs)',
    )
    .option('--update-command <cmd>', 'update command run in workers (default: dnf -y upgrade --refresh)');
}
