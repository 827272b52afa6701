/**
 * Things that live as long as `workerctl run`'s controller: the HTTP API server (`--listen`), session
 * lease expiry, metrics. Each gets the running controller and the runtime (client, store, settings),
 * is started after the controller's first pass and stopped before the controller stops, in reverse
 * order. The lifecycle issue registers its server here and adds its flags to `run`.
 */
import type { Logger } from '../log.js';
import type { CallInfo } from '../proxmox/options.js';
import { ApiAddon } from './api-addon.js';
import type { Controller } from '../loop/controller.js';
import type { Runtime } from './runtime.js';

export interface AddonContext {
  controller: Controller;
  runtime: Runtime;
  /** The parsed `run` flags (an add-on reads its own, e.g. listen). */
  flags: Record<string, unknown>;
  logger: Logger;
}

export interface RunAddon {
  name: string;
  /** Optional: after connecting, before the controller is built (may wrap runtime.reconciler). */
  prepare?(ctx: Omit<AddonContext, 'controller'>): Promise<void>;
  /** Optional: sees every Proxmox API call (metrics). */
  onProxmoxCall?(info: CallInfo): void;
  start(ctx: AddonContext): Promise<void>;
  stop(): Promise<void>;
}

/** The add-ons `workerctl run` starts: the lifecycle's HTTP API (sessions, tests, leases, metrics). */
export const runAddons: RunAddon[] = [new ApiAddon()];
