/** Component harness: the real simulator over HTTP, the real client, a MemoryStore and the reconcile core. */
import { createProxmoxClient, type HttpProxmoxClient } from '../../controller/proxmox/http-client.js';
import { startSimulator, type RunningSimulator, type WorldConfig } from '../../controller/simulator/index.js';
import { MemoryStore, MemoryVolume } from '../../controller/store/memory-store.js';
import { silentLogger } from '../../controller/log.js';
import {
  createFleetReconciler,
  type Fleet,
  type FleetOptions,
} from '../../controller/reconcile/reconciler.js';
import { makeSettings } from '../../controller/reconcile/settings.js';
import type { ControllerSettings, Plan } from '../../controller/reconcile/contracts.js';
import type { LoadResult, WorkerSpec } from '../../controller/types.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { createHash } from 'node:crypto';

export interface Harness {
  running: RunningSimulator;
  client: HttpProxmoxClient;
  store: MemoryStore;
  volume: MemoryVolume;
  clock: FakeClock;
  settings: ControllerSettings;
  fleet: Fleet;
  /** A new reconciler (and store) on the same volume and simulator: what a restarted controller gets. */
  restart(options?: FleetOptions): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(
  opts: {
    settings?: Partial<ControllerSettings>;
    fleet?: FleetOptions;
    seed?: number;
    world?: WorldConfig;
  } = {},
): Promise<Harness> {
  const running = await startSimulator({
    latency: 'fast',
    authFailureDelayMs: 0,
    seed: opts.seed ?? 3,
    ...(opts.world ? { world: opts.world } : {}),
  });
  const client = createProxmoxClient({
    url: running.url,
    auth: { kind: 'token', token: running.token },
    retry: { baseDelayMs: 5, maxDelayMs: 20, jitter: 0 },
    taskPoll: { initialMs: 5, maxMs: 40, factor: 2 },
  });
  const volume = new MemoryVolume();
  const clock = new FakeClock();
  const settings = makeSettings(opts.settings);
  const build = async (fo?: FleetOptions) => {
    const store = new MemoryStore({ volume, clock, coalesceMs: 0 });
    await store.open();
    const fleet = createFleetReconciler({ client, store, logger: silentLogger(), clock, settings }, fo);
    return { store, fleet };
  };
  const first = await build(opts.fleet);
  const h: Harness = {
    running,
    client,
    volume,
    clock,
    settings,
    store: first.store,
    fleet: first.fleet,
    async restart(fo) {
      // A crash: the old store's unflushed state is lost; only what was persisted survives.
      const next = await build(fo);
      h.store = next.store;
      h.fleet = next.fleet;
    },
    async close() {
      client.close();
      await running.close();
    },
  };
  return h;
}

/** A LoadResult as the loader would produce for `specs` (one file per worker unless `file` is set). */
export function loadOf(
  specs: WorkerSpec[],
  opts: { invalidFiles?: string[]; file?: (s: WorkerSpec) => string } = {},
): LoadResult {
  const fileOf = opts.file ?? ((s: WorkerSpec) => `workers/${s.name}.yaml`);
  const workers = specs.map((spec) => ({
    spec,
    source: { file: fileOf(spec), line: 1, col: 1 },
    specHash: createHash('sha256').update(JSON.stringify(spec)).digest('hex'),
  }));
  return {
    workers,
    diagnostics: [],
    files: [...new Set(workers.map((w) => w.source.file).concat(opts.invalidFiles ?? []))],
    invalidFiles: opts.invalidFiles ?? [],
  };
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
