/**
 * Component harness: the real simulator over HTTP, the real client, a MemoryStore and the reconcile
 * core, built by the composition root (no controller loop: tests drive reconciles themselves).
 */
import { openApp, type App } from '../../controller/compose/app.js';
import { silentLogger } from '../../controller/log.js';
import type { ProxmoxClient } from '../../controller/proxmox/client.js';
import type { CallInfo } from '../../controller/proxmox/options.js';
import type { ControllerSettings, Plan } from '../../controller/reconcile/contracts.js';
import type { ReconcileCore, ReconcileCoreOptions } from '../../controller/reconcile/core.js';
import { makeSettings } from '../../controller/reconcile/settings.js';
import { startSimulator, type RunningSimulator, type WorldConfig } from '../../controller/simulator/index.js';
import { MemoryVolume, type MemoryStore } from '../../controller/store/memory-store.js';
import { FakeClock } from './clock.js';

export interface Harness {
  running: RunningSimulator;
  app: App;
  client: ProxmoxClient;
  store: MemoryStore;
  volume: MemoryVolume;
  clock: FakeClock;
  settings: ControllerSettings;
  fleet: ReconcileCore;
  /** A new app (store and core) on the same volume and simulator: what a restarted controller gets. */
  restart(options?: ReconcileCoreOptions): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(
  opts: {
    settings?: Partial<ControllerSettings>;
    fleet?: ReconcileCoreOptions;
    seed?: number;
    world?: WorldConfig;
    /** 'root': log in with a root@pam ticket (skiplock allowed) instead of the simulator's token. */
    auth?: 'token' | 'root';
    /** The simulator's /cluster/resources lag (default on, as on a real cluster). */
    resourcesLag?: boolean;
    /** Sees every Proxmox call the client makes (after it returned). */
    onCall?: (info: CallInfo) => void;
  } = {},
): Promise<Harness> {
  const running = await startSimulator({
    latency: 'fast',
    authFailureDelayMs: 0,
    seed: opts.seed ?? 3,
    ...(opts.world ? { world: opts.world } : {}),
    ...(opts.resourcesLag !== undefined ? { resourcesLag: opts.resourcesLag } : {}),
  });
  const endpoint =
    opts.auth === 'root'
      ? { ...running, auth: { kind: 'ticket' as const, username: 'root@pam', password: running.password } }
      : running;
  const volume = new MemoryVolume();
  const clock = new FakeClock();
  const settings = makeSettings(opts.settings);
  const build = (core?: ReconcileCoreOptions) =>
    openApp({
      endpoint,
      clientOptions: {
        retry: { baseDelayMs: 5, maxDelayMs: 20, jitter: 0 },
        ...(opts.onCall ? { onCall: opts.onCall } : {}),
      },
      settings,
      logger: silentLogger(),
      clock,
      memoryStore: { volume, coalesceMs: 0 },
      core,
    });
  const first = await build(opts.fleet);
  const h: Harness = {
    running,
    app: first,
    client: first.client,
    volume,
    clock,
    settings,
    store: first.store as MemoryStore,
    fleet: first.core,
    async restart(core) {
      // A crash: the old store's unflushed state is lost; only what was persisted survives.
      await h.app.abandon();
      const next = await build(core);
      h.app = next;
      h.client = next.client;
      h.store = next.store as MemoryStore;
      h.fleet = next.core;
    },
    async close() {
      await h.app.abandon();
      await running.close();
    },
  };
  return h;
}

/**
 * Runs passes (observe, reconcile every worker) until a pass needs no requeue or `maxPasses` ran.
 * Errors are retried by the next pass, as the queue would. Returns the final plan.
 */
export async function converge(h: Harness, maxPasses = 8): Promise<Plan> {
  for (let pass = 0; pass < maxPasses; pass++) {
    try {
      await h.fleet.observe();
    } catch {
      continue;
    }
    let again = false;
    for (const rec of h.store.listWorkers()) {
      try {
        const res = await h.fleet.reconcile(rec.name, new AbortController().signal);
        if (res.requeueAfterMs !== undefined && res.requeueAfterMs < 60_000) again = true;
      } catch {
        again = true;
      }
    }
    if (!again) break;
    // A requeue means "come back later" (a task runs, a lock is held): let the simulator's tasks
    // finish instead of spinning through the passes, so a loaded machine does not fail the test.
    await Promise.race([h.running.sim.idle(), new Promise((r) => setTimeout(r, 2000))]);
    await new Promise((r) => setTimeout(r, 20));
  }
  await h.fleet.observe();
  return h.fleet.plan();
}

/** VMs in the simulator that are not templates. */
export function workerVms(h: Harness) {
  return h.running.sim.listVms().filter((v) => !v.template);
}
