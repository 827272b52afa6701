/**
 * The lifecycle end to end: the simulator over HTTP, the real Proxmox client, LowdbStore, the reconcile
 * core, the Controller, the lifecycle and its HTTP API, all built by the composition root as
 * `workerctl run` builds them. Tests talk to the API over HTTP and assert end states.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock, type Clock } from '../../controller/clock.js';
import { openApp, type App } from '../../controller/compose/app.js';
import type { Lifecycle } from '../../controller/lifecycle/lifecycle.js';
import type { LifecycleSettings } from '../../controller/lifecycle/settings.js';
import { createLogger, silentLogger, type Logger } from '../../controller/log.js';
import type { Controller } from '../../controller/loop/controller.js';
import type { ProxmoxClient } from '../../controller/proxmox/client.js';
import type { ProxmoxClientOptions } from '../../controller/proxmox/options.js';
import type { ControllerSettings } from '../../controller/reconcile/contracts.js';
import { makeSettings } from '../../controller/reconcile/settings.js';
import {
  startSimulator,
  type RunningSimulator,
  type SimulatorOptions,
} from '../../controller/simulator/index.js';
import { loadManifests } from '../../controller/manifest/load.js';
import type { Store } from '../../controller/store/store.js';
import type { WorkerRecord } from '../../controller/types.js';
import { makeTempDir } from './temp-dir.js';

/** The real clock (the lifecycle's waits are real in these end-to-end tests). */
export const realClock: Clock = systemClock;

/** Fast lifecycle settings for tests. */
export const FAST: Partial<LifecycleSettings> = {
  agentPollMs: 10,
  agentTimeoutMs: 1_000,
  checkTimeoutMs: 2_000,
  updateTimeoutMs: 3_000,
  leaseSweepMs: 25,
  sessionWaitMs: 0,
};

export interface LifecycleEnvOptions {
  settings?: Partial<LifecycleSettings>;
  /** Controller settings beyond the fast ones of these tests (benchmarks: a real shutdown timeout). */
  controllerSettings?: Partial<ControllerSettings>;
  /** Extra Proxmox client options (benchmarks scale the task polling with the time scale). */
  clientOptions?: Partial<ProxmoxClientOptions>;
  simulator?: SimulatorOptions;
  sim?: RunningSimulator;
  dirs?: { manifests: string; state: string };
  /** Where the controller logs (default: silent, or debug on stderr with E2E_LOG set). */
  logger?: Logger;
}

export interface HttpAnswer<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

/** One controller with its API over one simulator; restartable over the same directories. */
export class LifecycleEnv {
  sim!: RunningSimulator;
  app!: App;
  client!: ProxmoxClient;
  store!: Store;
  controller!: Controller;
  lifecycle!: Lifecycle;
  url = '';
  token = '';
  readonly manifests: string;
  readonly state: string;
  readonly logger: Logger;
  #tmp?: { path: string; remove: () => void };
  #ownSim = false;

  constructor(readonly opts: LifecycleEnvOptions = {}) {
    if (opts.dirs) {
      this.manifests = opts.dirs.manifests;
      this.state = opts.dirs.state;
    } else {
      this.#tmp = makeTempDir('workerctl-lifecycle-');
      this.manifests = join(this.#tmp.path, 'workers');
      this.state = join(this.#tmp.path, 'state');
      mkdirSync(this.manifests);
      mkdirSync(this.state);
    }
    this.logger = opts.logger ?? (process.env.E2E_LOG ? createLogger({ level: 'debug' }) : silentLogger());
  }

  async start(): Promise<this> {
    if (this.opts.sim) this.sim = this.opts.sim;
    else if (!this.sim) {
      this.sim = await startSimulator({ latency: 'fast', ...this.opts.simulator });
      this.#ownSim = true;
    }
    this.app = await openApp({
      endpoint: this.sim,
      clientOptions: this.opts.clientOptions,
      settings: makeSettings({
        resyncIntervalMs: 400,
        driftCheckIntervalMs: 0,
        driftBudgetPerPass: 100,
        shutdownTimeoutSec: 1,
        ...this.opts.controllerSettings,
      }),
      logger: this.logger,
      clock: realClock,
      stateDir: this.state,
      fsync: false,
      controller: {
        manifestPaths: [this.manifests],
        load: (paths) => loadManifests(paths),
        workers: 8,
        debounce: { quietMs: 30, maxWaitMs: 80 },
        backoff: { baseMs: 30, maxMs: 400 },
      },
      lifecycle: { settings: { ...FAST, ...this.opts.settings } },
      api: { listen: '127.0.0.1:0', processMetrics: false },
    });
    this.client = this.app.client;
    this.store = this.app.store;
    this.controller = this.app.controller!;
    this.lifecycle = this.app.lifecycle!;
    await this.app.start();
    this.url = this.app.api!.url;
    this.token = readFileSync(join(this.state, 'api-token'), 'utf8').trim();
    return this;
  }

  /** Stops lifecycle, API and controller (store closed); the simulator keeps running unless `all`. */
  async stop(all = false): Promise<void> {
    await this.app?.stop(2000);
    await this.app?.close();
    if (all && this.#ownSim) await this.sim.close();
  }

  async dispose(): Promise<void> {
    await this.stop(true);
    this.#tmp?.remove();
  }

  write(file: string, text: string): void {
    writeFileSync(join(this.manifests, file), text);
  }

  record(name: string): WorkerRecord | undefined {
    return this.store.getWorker(name);
  }

  /** The simulated VM of a worker. */
  vm(name: string) {
    const rec = this.record(name);
    return rec?.vmid !== undefined ? this.sim.sim.getVm(rec.vmid) : undefined;
  }

  async converged(timeoutMs = 8000): Promise<void> {
    const res = await this.controller.waitForConvergence(timeoutMs, { pollMs: 50 });
    if (!res.converged)
      throw new Error(`not converged: ${res.pending.map((p) => `${p.worker}: ${p.reason}`).join('; ')}`);
  }

  /** An API call; `auth` false sends no token. */
  async http<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    auth = true,
  ): Promise<HttpAnswer<T>> {
    const headers: Record<string, string> = {};
    if (auth) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(this.url + path, {
      method,
      headers,
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // metrics and SSE are text
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }
}
