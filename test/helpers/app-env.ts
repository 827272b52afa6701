/**
 * End-to-end environments: a temporary manifest directory and state directory, the simulator over
 * HTTP on 127.0.0.1 (fast latency profile), and workerctl built by the composition root exactly as
 * `workerctl run` builds it (real loader and watcher, LowdbStore, reconcile core, controller; with
 * the lifecycle and its API in LifecycleEnv). Tests change files and the simulated cluster, then wait
 * for the end state; they never look at call sequences.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../../controller/clock.js';
import { openApp, type App, type AppOptions } from '../../controller/compose/app.js';
import type { LifecycleSettings } from '../../controller/lifecycle/settings.js';
import type { Controller, LoadFn } from '../../controller/loop/controller.js';
import { silentLogger, createLogger, type Logger } from '../../controller/log.js';
import type { ProxmoxClient } from '../../controller/proxmox/client.js';
import type { ProxmoxClientOptions } from '../../controller/proxmox/options.js';
import type { ControllerSettings } from '../../controller/reconcile/contracts.js';
import type { ReconcileCore } from '../../controller/reconcile/core.js';
import { makeSettings } from '../../controller/reconcile/settings.js';
import {
  startSimulator,
  type RunningSimulator,
  type SimulatorOptions,
  type VmView,
} from '../../controller/simulator/index.js';
import type { Store } from '../../controller/store/store.js';
import type { WorkerRecord } from '../../controller/types.js';
import { makeTempDir } from './temp-dir.js';

export interface AppEnvOptions {
  /** Controller settings beyond the fast ones of these tests. */
  controllerSettings?: Partial<ControllerSettings>;
  /** Extra Proxmox client options (benchmarks scale the task polling with the time scale). */
  clientOptions?: Partial<ProxmoxClientOptions>;
  simulator?: SimulatorOptions;
  /** An already running simulator (shared across restarts). */
  sim?: RunningSimulator;
  /** Keep using this manifest/state directory (restart scenarios). */
  dirs?: { manifests: string; state: string };
  /** Where the controller logs (default: silent, or debug on stderr with E2E_LOG set). */
  logger?: Logger;
  clock?: Clock;
  /** The manifest loader (default: the cached one, as `workerctl run`). */
  load?: LoadFn;
  /** Build the lifecycle (with these settings) and its API on a free loopback port. */
  lifecycle?: Partial<LifecycleSettings>;
}

/** workerctl over one simulator; restartable over the same directories. */
export class AppEnv {
  sim!: RunningSimulator;
  app!: App;
  client!: ProxmoxClient;
  store!: Store;
  fleet!: ReconcileCore;
  controller!: Controller;
  readonly manifests: string;
  readonly state: string;
  readonly logger: Logger;
  #tmp?: { path: string; remove: () => void };
  #ownSim = false;

  constructor(readonly env: AppEnvOptions = {}) {
    if (env.dirs) {
      this.manifests = env.dirs.manifests;
      this.state = env.dirs.state;
    } else {
      this.#tmp = makeTempDir('workerctl-e2e-');
      this.manifests = join(this.#tmp.path, 'workers');
      this.state = join(this.#tmp.path, 'state');
      mkdirSync(this.manifests);
      mkdirSync(this.state);
    }
    this.logger = env.logger ?? (process.env.E2E_LOG ? createLogger({ level: 'debug' }) : silentLogger());
  }

  get settings(): ControllerSettings {
    return makeSettings({
      resyncIntervalMs: 400,
      driftCheckIntervalMs: 0,
      driftBudgetPerPass: 100,
      shutdownTimeoutSec: 1,
      ...this.env.controllerSettings,
    });
  }

  async start(): Promise<this> {
    if (this.env.sim) this.sim = this.env.sim;
    else if (!this.sim) {
      this.sim = await startSimulator({ latency: 'fast', ...this.env.simulator });
      this.#ownSim = true;
    }
    const options: AppOptions = {
      endpoint: this.sim,
      clientOptions: this.env.clientOptions,
      settings: this.settings,
      logger: this.logger,
      stateDir: this.state,
      fsync: false,
      controller: {
        manifestPaths: [this.manifests],
        ...(this.env.load ? { load: this.env.load } : {}),
        workers: 8,
        debounce: { quietMs: 30, maxWaitMs: 80 },
        backoff: { baseMs: 30, maxMs: 400 },
      },
    };
    if (this.env.clock) options.clock = this.env.clock;
    if (this.env.lifecycle) {
      options.lifecycle = { settings: this.env.lifecycle };
      options.api = { listen: '127.0.0.1:0', processMetrics: false };
    }
    this.app = await openApp(options);
    this.client = this.app.client;
    this.store = this.app.store;
    this.fleet = this.app.core;
    this.controller = this.app.controller!;
    await this.app.start();
    return this;
  }

  /** Stops everything (store closed); the simulator keeps running unless `all`. */
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

  remove(file: string): void {
    rmSync(join(this.manifests, file), { force: true });
  }

  record(name: string): WorkerRecord | undefined {
    return this.store.getWorker(name);
  }

  /** VMs (not templates) named after a worker. */
  vmsNamed(name: string): VmView[] {
    return this.sim.sim.listVms().filter((v) => !v.template && v.name === name);
  }

  /** The simulated VM of a worker. */
  vm(name: string) {
    const rec = this.record(name);
    return rec?.vmid !== undefined ? this.sim.sim.getVm(rec.vmid) : undefined;
  }

  /** Waits until a fresh observation plans nothing. */
  async converged(timeoutMs = 8000): Promise<void> {
    const res = await this.controller.waitForConvergence(timeoutMs, { pollMs: 50 });
    if (!res.converged) {
      throw new Error(`not converged: ${res.pending.map((p) => `${p.worker}: ${p.reason}`).join('; ')}`);
    }
  }
}

export interface EnvOptions {
  settings?: Partial<ControllerSettings>;
  simulator?: SimulatorOptions;
  sim?: RunningSimulator;
  dirs?: { manifests: string; state: string };
  log?: boolean;
}

/** The controller alone (no lifecycle, no API), as `workerctl run` builds it. */
export class E2eEnv extends AppEnv {
  constructor(opts: EnvOptions = {}) {
    super({
      controllerSettings: opts.settings,
      simulator: opts.simulator,
      sim: opts.sim,
      dirs: opts.dirs,
      ...(opts.log ? { logger: createLogger({ level: 'debug' }) } : {}),
    });
  }
}
