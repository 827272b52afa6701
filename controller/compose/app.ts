/**
 * The composition root: the one place that builds workerctl from options. Every command (plan,
 * apply, run) and every test harness opens an App; nothing else wires store, Proxmox client,
 * reconcile core, controller loop, lifecycle and HTTP API together.
 *
 *   connection/endpoint -> ProxmoxClient (read-only for plan)
 *   state dir           -> Store (LowdbStore; an in-memory copy for plan; MemoryStore in tests)
 *   client + store      -> reconcile core (intake, reconciler, executor)
 *   core + manifests    -> controller loop (watch, queue, resync)          [controller]
 *   loop + store        -> lifecycle (tests, sessions, leases)              [lifecycle]
 *   lifecycle + store   -> HTTP API (server, metrics, events)               [api]
 *
 * start() runs them in order (the API listens first so /healthz answers and /readyz says "not
 * ready" during the first pass); stop() stops them in reverse and closes store and connection.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { generateTokenFile, readTokenFile } from '../api/auth.js';
import { ControllerMetrics } from '../api/metrics.js';
import { DEFAULT_LISTEN, startApiServer, type ApiServer } from '../api/server.js';
import type { Clock } from '../clock.js';
import { isoNow, systemClock } from '../clock.js';
import { CREDENTIAL, credentialFile } from '../credentials.js';
import { StoreCorruptError } from '../errors.js';
import { Lifecycle } from '../lifecycle/lifecycle.js';
import type { LifecycleSettings } from '../lifecycle/settings.js';
import type { Logger } from '../log.js';
import { Controller, type ControllerOptions, type LoadFn } from '../loop/controller.js';
import { ManifestHealth } from '../loop/manifest-health.js';
import { createManifestLoader } from '../manifest/cached-loader.js';
import type { ProxmoxClient } from '../proxmox/client.js';
import { HttpProxmoxClient } from '../proxmox/http-client.js';
import type { CallInfo, ProxmoxClientOptions } from '../proxmox/options.js';
import { readOnlyClient } from '../proxmox/read-only-client.js';
import type { ControllerSettings } from '../reconcile/contracts.js';
import { createReconcileCore, type ReconcileCore, type ReconcileCoreOptions } from '../reconcile/core.js';
import type { RunningSimulator } from '../simulator/index.js';
import { parseDatabaseText } from '../store/json-file-adapter.js';
import { DB_FILE_NAME, LowdbStore } from '../store/lowdb-store.js';
import { migrateStoreData } from '../store/schema.js';
import { MemoryStore, type MemoryVolume } from '../store/memory-store.js';
import type { Store } from '../store/store.js';
import { planPreview } from './preview.js';
import {
  connect,
  connectEndpoint,
  type Connection,
  type ConnectionOptions,
  type Endpoint,
} from './connection.js';

/** Options of the embedded simulator for `--simulate` (run and apply use the realistic profile). */
export interface EmbeddedSimulatorOptions {
  latency: 'fast' | 'realistic';
  timeScale: number;
  seed?: number;
}

export interface AppOptions {
  settings: ControllerSettings;
  logger: Logger;
  clock?: Clock;
  /** Where Proxmox is: the connection flags (server and token, or --simulate) ... */
  connection?: ConnectionOptions;
  /** ... or an endpoint already running (a simulator the caller started: tests, benchmarks). */
  endpoint?: Endpoint & { sim?: RunningSimulator['sim'] };
  /** With connection.simulate: how the embedded simulator behaves. */
  simulator?: EmbeddedSimulatorOptions;
  /** Extra client settings (retries and task polling in tests, an onCall hook). */
  clientOptions?: Partial<Omit<ProxmoxClientOptions, 'url' | 'auth' | 'tls'>>;
  /** The state directory (default: connection.stateDir, else .workerctl). */
  stateDir?: string;
  /** plan: a read-only client and an in-memory copy of the state directory's database. */
  readOnly?: boolean;
  /** An in-memory store instead of the state directory (tests): its volume survives a "restart". */
  memoryStore?: { volume?: MemoryVolume; coalesceMs?: number };
  /** fsync every database write (default true; tests turn it off). */
  fsync?: boolean;
  /** Seams of the reconcile core (crash tests). */
  core?: ReconcileCoreOptions;
  /** Build the controller loop over these manifests. */
  controller?: Omit<ControllerOptions, 'reconciler' | 'store' | 'settings' | 'logger' | 'clock' | 'load'> & {
    load?: LoadFn;
  };
  /** Build the lifecycle (needs the controller). */
  lifecycle?: { settings?: Partial<LifecycleSettings> };
  /** Serve the HTTP API (needs the lifecycle). */
  api?: {
    /** HOST:PORT (default 127.0.0.1:8080). */
    listen?: string;
    /** The default address may be taken: go on without the API instead of failing. */
    optional?: boolean;
    /** A non-loopback listen without TLS is accepted (with a warning) instead of refused. */
    allowInsecureListen?: boolean;
    /** The bearer token's file (default: the systemd credential api-token, else generated once into <stateDir>/api-token). */
    tokenFile?: string;
    /** Node process metrics too (default true). */
    processMetrics?: boolean;
  };
}

/** workerctl assembled; the parts not asked for are undefined. */
export interface App {
  client: ProxmoxClient;
  store: Store;
  core: ReconcileCore;
  settings: ControllerSettings;
  logger: Logger;
  clock: Clock;
  /** 'simulator at ...' or the server, TLS mode and identity (never the secret). */
  target: string;
  /** The embedded simulator (--simulate) or the endpoint's, when there is one. */
  simulator?: RunningSimulator['sim'];
  /** The state directory in use (absolute). */
  stateDir: string;
  controller?: Controller;
  lifecycle?: Lifecycle;
  metrics?: ControllerMetrics;
  /** The API server once started (undefined when not asked, or the optional address was taken). */
  api?: ApiServer;
  /** True once the first full observation is done (the API's /readyz). */
  readonly ready: boolean;
  /** Starts the API (not ready yet), the controller's first pass, the lifecycle; then ready. */
  start(): Promise<void>;
  /** Stops the lifecycle and the API, then the controller (in-flight reconciles get graceMs). */
  stop(graceMs?: number): Promise<void>;
  /** stop() if started, then closes the store and the connection. Safe to call twice. */
  close(): Promise<void>;
  /** Drops the connection without touching the store (a crash, in tests). */
  abandon(): Promise<void>;
}

/** Reads the state directory's database as data, for a read-only copy (undefined when there is none). */
export function readStateSnapshot(stateDir: string): unknown {
  const file = join(stateDir, DB_FILE_NAME);
  if (!existsSync(file)) return undefined;
  let value: unknown;
  try {
    value = parseDatabaseText(readFileSync(file, 'utf8'), file);
  } catch (err) {
    if (err instanceof StoreCorruptError) throw err;
    throw new StoreCorruptError(`cannot read ${file}: ${(err as Error).message}`);
  }
  // The same checks as a writable open, naming the file (the copy is then opened in memory).
  migrateStoreData(value, file);
  return value;
}

async function openConnection(opts: AppOptions, onCall?: (info: CallInfo) => void): Promise<Connection> {
  const clientOptions = {
    // An in-process simulator's clock, unless the caller says otherwise (proxmox/options.ts timeScale).
    ...(opts.endpoint?.sim ? { timeScale: opts.endpoint.sim.latency.pveTimeScale } : {}),
    ...opts.clientOptions,
    ...(onCall ? { onCall } : {}),
  };
  if (opts.endpoint) {
    const conn = connectEndpoint(opts.endpoint, { logger: opts.logger, clientOptions });
    return opts.endpoint.sim ? { ...conn, simulator: { sim: opts.endpoint.sim } as RunningSimulator } : conn;
  }
  const conn = await connect(opts.connection ?? {}, {
    logger: opts.logger,
    clientOptions,
    simulator: opts.simulator,
  });
  if (conn.simulator && opts.simulator) {
    const { latency, timeScale } = opts.simulator;
    return { ...conn, describe: `${conn.describe} (${latency} latency, time x${timeScale})` };
  }
  return conn;
}

function openStore(opts: AppOptions, stateDir: string, clock: Clock): Store {
  if (opts.readOnly) return new MemoryStore({ initial: readStateSnapshot(stateDir), clock });
  if (opts.memoryStore) return new MemoryStore({ clock, ...opts.memoryStore });
  return new LowdbStore({
    stateDir,
    clock,
    logger: opts.logger.child({ component: 'store' }),
    ...(opts.fsync !== undefined ? { fsync: opts.fsync } : {}),
  });
}

/** Connects, opens the store and builds every part the options ask for (nothing runs yet). */
export async function openApp(opts: AppOptions): Promise<App> {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger;
  const stateDir = resolve(opts.stateDir ?? opts.connection?.stateDir ?? '.workerctl');
  const metrics = opts.api
    ? new ControllerMetrics({ processMetrics: opts.api.processMetrics ?? true })
    : undefined;
  const userOnCall = opts.clientOptions?.onCall;
  const onCall =
    metrics || userOnCall
      ? (info: CallInfo) => {
          metrics?.onProxmoxCall(info);
          userOnCall?.(info);
        }
      : undefined;
  const store = openStore(opts, stateDir, clock);
  await store.open();
  let conn: Connection;
  try {
    conn = await openConnection(opts, onCall);
  } catch (err) {
    await store.close();
    throw err;
  }
  const client = opts.readOnly ? readOnlyClient(conn.client) : conn.client;
  const settings = opts.settings;
  // skiplock exactly when PVE takes it: a ticket login as root@pam (the settings object stays the
  // caller's, which may tune it while the app runs).
  if (settings.skiplock !== Boolean(conn.rootLogin)) settings.skiplock = Boolean(conn.rootLogin);
  const core = createReconcileCore({ client, store, logger, clock, settings }, opts.core);
  // The per-node API budget of the HTTP client (status, metrics).
  const budget = conn.client instanceof HttpProxmoxClient ? conn.client.budget : undefined;

  let controller: Controller | undefined;
  if (opts.controller) {
    const { load, ...loop } = opts.controller;
    // One cache for the life of the loop: a reload parses only the files that changed.
    const loader = load ? undefined : createManifestLoader();
    controller = new Controller({
      ...loop,
      load: load ?? ((paths) => loader!.load(paths)),
      reconciler: core,
      store,
      settings,
      logger,
      clock,
    });
  }

  // The manifests' health for the API, its metrics and its events, from the first load pass on.
  const manifestHealth =
    controller && opts.api ? new ManifestHealth(opts.controller!.manifestPaths, clock) : undefined;
  if (controller) manifestHealth?.follow(controller);

  let lifecycle: Lifecycle | undefined;
  if (opts.lifecycle) {
    if (!controller) throw new Error('internal: the lifecycle needs the controller loop');
    const loop = controller;
    lifecycle = new Lifecycle({
      client,
      store,
      clock,
      logger,
      settings: {
        ...lifecycleSettingsFor(opts.lifecycle.settings ?? {}, settings, conn.simulator?.sim),
        manifestPaths: opts.controller?.manifestPaths,
      },
      holds: loop,
      onIdle: (w) => loop.enqueue(w),
    });
  }
  if (opts.api && !lifecycle) throw new Error('internal: the HTTP API needs the lifecycle');

  let ready = false;
  let started = false;
  let stopped: Promise<void> | undefined;
  let closed = false;
  const unlink: (() => void)[] = [];

  const app: App = {
    client,
    store,
    core,
    settings,
    logger,
    clock,
    target: conn.describe,
    simulator: conn.simulator?.sim,
    stateDir,
    controller,
    lifecycle,
    metrics,
    get ready() {
      return ready;
    },

    async start() {
      if (started) throw new Error('app already started');
      started = true;
      if (opts.api && lifecycle && metrics) {
        metrics.bindStore(store);
        if (budget) metrics.bindBudget(() => budget.view());
        if (manifestHealth) {
          metrics.bindManifests(() => manifestHealth.view());
          const events = lifecycle.events;
          manifestHealth.onChange((v) =>
            events.emit({
              type: 'manifests',
              invalidFiles: v.lastLoad?.invalidFiles.length ?? 0,
              errors: v.lastLoad?.errors ?? 0,
              ...(v.lastLoad?.revision ? { revision: v.lastLoad.revision } : {}),
              time: isoNow(clock),
            }),
          );
        }
        app.api = await startApi(opts.api, lifecycle, metrics, () => ready);
      }
      if (!controller) return;
      const loop = controller;
      await loop.start();
      if (!lifecycle) return;
      const lc = lifecycle;
      if (metrics) metrics.bindQueueDepth(() => loop.snapshot().queue.ready);
      const onLoaded = (e: { plan: Parameters<Lifecycle['onPlan']>[0] }) => void lc.onPlan(e.plan);
      const onReconciled = (e: {
        durationMs: number;
        error?: string;
        terminal?: boolean;
        requeueAfterMs?: number;
      }) => {
        const result = e.terminal ? 'terminal' : e.error ? 'error' : e.requeueAfterMs ? 'requeue' : 'success';
        metrics?.observeReconcile(e.durationMs, result);
      };
      loop.on('loaded', onLoaded);
      loop.on('reconciled', onReconciled);
      unlink.push(
        () => loop.off('loaded', onLoaded),
        () => loop.off('reconciled', onReconciled),
      );
      await lc.start();
      // Immediate changes already planned by the first pass.
      if (loop.lastPlan) await lc.onPlan(loop.lastPlan);
      ready = true;
    },

    stop(graceMs = 10_000) {
      stopped ??= (async () => {
        for (const f of unlink.splice(0)) f();
        lifecycle?.stop();
        try {
          await app.api?.close();
        } catch (err) {
          logger.warn('api failed to stop', { err });
        }
        ready = false;
        await controller?.stop(graceMs);
      })();
      return stopped;
    },

    async close() {
      if (closed) return;
      closed = true;
      try {
        if (started) await app.stop();
        await store.close();
      } finally {
        await conn.close();
      }
    },

    async abandon() {
      closed = true;
      await conn.close();
    },
  };

  /** POST /v1/plan: posted manifests planned as if in the first manifest directory. */
  function previewFor() {
    const first = opts.controller?.manifestPaths[0];
    if (!first) return undefined;
    const root = existsSync(first) && statSync(first).isFile() ? dirname(resolve(first)) : resolve(first);
    return planPreview({ client: conn.client, store, settings, logger, clock, manifestRoot: root });
  }

  async function startApi(
    api: NonNullable<AppOptions['api']>,
    lc: Lifecycle,
    m: ControllerMetrics,
    isReady: () => boolean,
  ): Promise<ApiServer | undefined> {
    let token: string;
    const tokenFile = api.tokenFile ?? credentialFile(CREDENTIAL.apiToken);
    if (tokenFile) token = await readTokenFile(tokenFile);
    else {
      const file = join(stateDir, 'api-token');
      token = existsSync(file) ? await readTokenFile(file) : await generateTokenFile(file);
      logger.info('api token', { file });
    }
    const listen = api.listen ?? DEFAULT_LISTEN;
    try {
      return await startApiServer(
        {
          store,
          events: lc.events,
          metrics: m,
          logger: logger.child({ component: 'api' }),
          clock,
          isReady,
          sessions: lc.sessions,
          startSession: (req) => lc.startSession(req),
          test: (name) => lc.test(name),
          previewPlan: previewFor(),
          token,
          plan: () => core.reconciler.planObserved(core.massDeleteBlocked),
          ...(budget ? { budget: () => budget.view() } : {}),
          ...(manifestHealth ? { manifests: () => manifestHealth.view() } : {}),
        },
        listen,
        { allowInsecure: api.allowInsecureListen },
      );
    } catch (err) {
      // An explicit --listen must work; the default address may be taken by another controller.
      if (!api.optional) throw err;
      logger.warn('api not started: the default address is taken; pass --listen to choose one', {
        listen,
        err,
      });
      return undefined;
    }
  }

  return app;
}

/**
 * The lifecycle's settings: the given ones, then the controller settings' backup server, then the
 * embedded simulator's backup server (which the worker test pings). Node addresses come from the
 * cluster itself (GET /cluster/status, lifecycle/node-addresses.ts); the given ones override it.
 */
function lifecycleSettingsFor(
  given: Partial<LifecycleSettings>,
  settings: ControllerSettings,
  sim: RunningSimulator['sim'] | undefined,
): Partial<LifecycleSettings> {
  const out: Partial<LifecycleSettings> = {};
  for (const [k, v] of Object.entries(given)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  const world = sim?.world;
  out.hostAddresses = { ...given.hostAddresses };
  out.backupServer ??= settings.backupServer ?? world?.network.backupServer;
  return out;
}
