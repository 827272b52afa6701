/**
 * The lifecycle and its HTTP API as an add-on of `workerctl run`:
 * - prepare (after connecting, before the controller starts): builds the Lifecycle, wraps the reconcile
 *   core with the per-worker lock, and starts listening so /healthz answers and /readyz says "not
 *   ready" during the first pass;
 * - start (after the first full observation): restores sessions, starts lease expiry, marks ready, and
 *   links the controller: Immediate changes end sessions, an idle worker is re-enqueued, reconciles
 *   and the queue feed the metrics;
 * - stop: stops leases and the server (sessions stay in the store for the next run).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { CREDENTIAL, credentialFile } from '../credentials.js';
import { ConfigError } from '../errors.js';
import { Lifecycle } from '../lifecycle/lifecycle.js';
import type { LifecycleSettings } from '../lifecycle/settings.js';
import type { Logger } from '../log.js';
import type { AddonContext, RunAddon } from '../runtime/addons.js';
import type { Controller } from '../runtime/controller-loop.js';
import type { Runtime } from '../runtime/wiring.js';
import { generateTokenFile, readTokenFile } from './auth.js';
import { ControllerMetrics } from './metrics.js';
import { DEFAULT_LISTEN, startApiServer, type ApiServer, type ApiServices } from './server.js';

/** The `run` flags of this add-on (commander camel-cases them). */
export interface ApiFlags {
  listen?: string;
  apiTokenFile?: string;
  backupServer?: string;
  hostAddress?: string[];
  updateCommand?: string;
}

/** Adds --listen, --api-token-file, --backup-server and --update-command to `run`. */
export function addApiOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--listen <addr>',
        `HTTP API address (default ${DEFAULT_LISTEN}; when that is taken, run goes on without the API)`,
      ),
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

/** Lifecycle settings from the run flags and the controller settings. */
export function lifecycleSettingsFrom(flags: ApiFlags, rt: Runtime): Partial<LifecycleSettings> {
  const out: Partial<LifecycleSettings> = {
    backupServer: flags.backupServer ?? rt.settings.backupServer,
    shutdownTimeoutSec: rt.settings.shutdownTimeoutSec,
  };
  const hosts: Record<string, string> = {};
  // The embedded simulator knows its nodes' and backup server's addresses.
  const world = rt.simulator?.sim.world;
  if (world) {
    for (const [name, n] of world.nodes) hosts[name] = n.ip;
    out.backupServer ??= world.network.backupServer;
  }
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

/** The API add-on; `lifecycle`, `server` and `metrics` are there for tests once prepared. */
export class ApiAddon implements RunAddon {
  readonly name = 'api';
  readonly metrics: ControllerMetrics;
  lifecycle?: Lifecycle;
  server?: ApiServer;
  #ready = false;
  #controller?: Controller;
  #unlink: (() => void)[] = [];

  readonly #settings: Partial<LifecycleSettings>;

  /** `settings` override the flags (tests and benchmarks: short polls and leases). */
  constructor(opts: { processMetrics?: boolean; settings?: Partial<LifecycleSettings> } = {}) {
    this.metrics = new ControllerMetrics({ processMetrics: opts.processMetrics ?? true });
    this.#settings = opts.settings ?? {};
  }

  /** For the Proxmox client's onCall option. */
  readonly onProxmoxCall = (info: { operation: string; durationMs: number; error?: Error }) =>
    this.metrics.onProxmoxCall(info);

  async prepare(ctx: { runtime: Runtime; flags: Record<string, unknown>; logger: Logger }): Promise<void> {
    const rt = ctx.runtime;
    const flags = ctx.flags as ApiFlags;
    const lifecycle = new Lifecycle({
      client: rt.client,
      store: rt.store,
      clock: rt.clock,
      logger: ctx.logger,
      settings: { ...lifecycleSettingsFrom(flags, rt), ...this.#settings },
      reconciler: rt.reconciler,
      onIdle: (w) => this.#controller?.enqueue(w),
    });
    this.lifecycle = lifecycle;
    rt.reconciler = lifecycle.wrapReconciler(rt.reconciler);
    this.metrics.bindStore(rt.store);

    let token: string;
    const tokenFile = flags.apiTokenFile ?? credentialFile(CREDENTIAL.apiToken);
    if (tokenFile) token = await readTokenFile(tokenFile);
    else {
      const file = join(rt.stateDir, 'api-token');
      token = existsSync(file) ? await readTokenFile(file) : await generateTokenFile(file);
      ctx.logger.info('api token', { file });
    }
    const services: ApiServices = {
      store: lifecycle.store,
      events: lifecycle.events,
      metrics: this.metrics,
      logger: ctx.logger.child({ component: 'api' }),
      clock: rt.clock,
      isReady: () => this.#ready,
      sessions: lifecycle.sessions,
      startSession: (req) => lifecycle.startSession(req),
      test: (name) => lifecycle.test(name),
      token,
    };
    try {
      this.server = await startApiServer(services, flags.listen ?? DEFAULT_LISTEN);
    } catch (err) {
      // An explicit --listen must work; the default address may be taken by another controller.
      if (flags.listen !== undefined) throw err;
      ctx.logger.warn('api not started: the default address is taken; pass --listen to choose one', {
        listen: DEFAULT_LISTEN,
        err,
      });
    }
  }

  async start(ctx: AddonContext): Promise<void> {
    if (!this.lifecycle) await this.prepare(ctx);
    const lifecycle = this.lifecycle!;
    const controller = ctx.controller;
    this.#controller = controller;
    this.metrics.bindQueueDepth(() => controller.snapshot().queue.ready);
    const onLoaded = (e: { plan: Parameters<Lifecycle['onPlan']>[0] }) => void lifecycle.onPlan(e.plan);
    const onReconciled = (e: {
      durationMs: number;
      error?: string;
      terminal?: boolean;
      requeueAfterMs?: number;
    }) => {
      const result = e.terminal ? 'terminal' : e.error ? 'error' : e.requeueAfterMs ? 'requeue' : 'success';
      this.metrics.observeReconcile(e.durationMs, result);
      lifecycle.watcher.schedule();
    };
    controller.on('loaded', onLoaded);
    controller.on('reconciled', onReconciled);
    this.#unlink.push(
      () => controller.off('loaded', onLoaded),
      () => controller.off('reconciled', onReconciled),
    );
    await lifecycle.start();
    // Immediate changes already planned by the first pass.
    if (controller.lastPlan) await lifecycle.onPlan(controller.lastPlan);
    this.#ready = true;
  }

  async stop(): Promise<void> {
    for (const f of this.#unlink.splice(0)) f();
    this.lifecycle?.stop();
    await this.server?.close();
    this.#ready = false;
  }
}
