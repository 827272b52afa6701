/**
 * The lifecycle end to end (app-env.ts AppEnv with the lifecycle and its API): tests talk to the API
 * over HTTP and assert end states.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock, type Clock } from '../../controller/clock.js';
import type { Lifecycle } from '../../controller/lifecycle/lifecycle.js';
import type { LifecycleSettings } from '../../controller/lifecycle/settings.js';
import type { Logger } from '../../controller/log.js';
import { loadManifests } from '../../controller/manifest/load.js';
import type { ProxmoxClientOptions } from '../../controller/proxmox/options.js';
import type { ControllerSettings } from '../../controller/reconcile/contracts.js';
import type { RunningSimulator, SimulatorOptions } from '../../controller/simulator/index.js';
import { AppEnv } from './app-env.js';

/** The real clock (the lifecycle's waits are real in these end-to-end tests). */
export const realClock: Clock = systemClock;

/** Fast lifecycle settings for tests. */
export const FAST: Partial<LifecycleSettings> = {
  agentPollMs: 10,
  agentPollMaxMs: 40,
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

/** The controller with the lifecycle and its HTTP API over one simulator; restartable over the same directories. */
export class LifecycleEnv extends AppEnv {
  lifecycle!: Lifecycle;
  url = '';
  token = '';

  constructor(readonly opts: LifecycleEnvOptions = {}) {
    super({
      controllerSettings: opts.controllerSettings,
      clientOptions: opts.clientOptions,
      simulator: opts.simulator,
      sim: opts.sim,
      dirs: opts.dirs,
      logger: opts.logger,
      clock: realClock,
      load: (paths) => loadManifests(paths),
      lifecycle: { ...FAST, ...opts.settings },
    });
  }

  override async start(): Promise<this> {
    // The world may be set on opts.simulator after construction (benchmarks).
    this.env.simulator = this.opts.simulator;
    await super.start();
    this.lifecycle = this.app.lifecycle!;
    this.url = this.app.api!.url;
    this.token = readFileSync(join(this.state, 'api-token'), 'utf8').trim();
    return this;
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
