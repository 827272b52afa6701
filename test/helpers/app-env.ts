/**
 * End-to-end fixture: a temporary manifest directory, the real loader and watcher, the real reconcile
 * core and store (LowdbStore in a temporary state directory), and the simulator over HTTP on
 * 127.0.0.1 (fast latency profile). Tests change files and the simulated cluster, then wait for the end
 * state; they never look at call sequences.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openApp, type App } from '../../controller/compose/app.js';
import type { Controller } from '../../controller/loop/controller.js';
import { silentLogger, createLogger, type Logger } from '../../controller/log.js';
import type { ProxmoxClient } from '../../controller/proxmox/client.js';
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

export interface EnvOptions {
  settings?: Partial<ControllerSettings>;
  simulator?: SimulatorOptions;
  /** An already running simulator (shared across restarts). */
  sim?: RunningSimulator;
  /** Keep using this manifest/state directory (restart scenarios). */
  dirs?: { manifests: string; state: string };
  log?: boolean;
}

/** One controller over one simulator; restartable over the same directories. */
export class E2eEnv {
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

  constructor(readonly opts: EnvOptions = {}) {
    if (opts.dirs) {
      this.manifests = opts.dirs.manifests;
      this.state = opts.dirs.state;
    } else {
      this.#tmp = makeTempDir('workerctl-e2e-');
      this.manifests = join(this.#tmp.path, 'workers');
      this.state = join(this.#tmp.path, 'state');
      mkdirSync(this.manifests);
    }
    this.logger = opts.log || process.env.E2E_LOG ? createLogger({ level: 'debug' }) : silentLogger();
  }

  get settings(): ControllerSettings {
    return makeSettings({
      resyncIntervalMs: 400,
      driftCheckIntervalMs: 0,
      driftBudgetPerPass: 100,
      shutdownTimeoutSec: 1,
      ...this.opts.settings,
    });
  }

  async start(): Promise<this> {
    if (this.opts.sim) this.sim = this.opts.sim;
    else if (!this.sim) {
      this.sim = await startSimulator({ latency: 'fast', ...this.opts.simulator });
      this.#ownSim = true;
    }
    // Built by the composition root, as `workerctl run` is (the cached loader included).
    this.app = await openApp({
      endpoint: this.sim,
      settings: this.settings,
      logger: this.logger,
      stateDir: this.state,
      fsync: false,
      controller: {
        manifestPaths: [this.manifests],
        workers: 8,
        debounce: { quietMs: 30, maxWaitMs: 80 },
        backoff: { baseMs: 30, maxMs: 400 },
      },
    });
    this.client = this.app.client;
    this.store = this.app.store;
    this.fleet = this.app.core;
    this.controller = this.app.controller!;
    await this.app.start();
    return this;
  }

  /** Stops the controller (store closed); the simulator keeps running unless `all`. */
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

  /** Waits until a fresh observation plans nothing. */
  async converged(timeoutMs = 8000): Promise<void> {
    const res = await this.controller.waitForConvergence(timeoutMs, { pollMs: 50 });
    if (!res.converged) {
      throw new Error(`not converged: ${res.pending.map((p) => `${p.worker}: ${p.reason}`).join('; ')}`);
    }
  }
}
