/**
 * The two seams between the lifecycle and the reconcile core:
 * - `coreDeployer`: an OnDemand worker gets its VM by setting `wantDeployed` (the core's hook, see
 *   reconcile/plan.ts wantsVm) and running the core's reconcile for it until the VM is recorded;
 * - `lockedReconciler`: the core's reconcile runs under the worker's lock, and while a test or a
 *   session start holds that lock the reconcile is put back in the queue instead of waiting, so the
 *   two never act on one VM at once.
 */
import type { Clock } from '../clock.js';
import { ConflictError, TerminalError, WaitTimeoutError } from '../errors.js';
import type { FleetReconciler } from '../reconcile/contracts.js';
import type { Store } from '../store/store.js';
import type { KeyedMutex } from '../queue/mutex.js';
import type { DeployFn } from './power-demand.js';

/** Back off this long when a worker is locked by a test or a session start. */
export const LOCKED_REQUEUE_MS = 2_000;

/** The core's reconcile, skipped (requeued) while the lifecycle holds the worker. */
export function lockedReconciler(inner: FleetReconciler, locks: KeyedMutex): FleetReconciler {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'reconcile') {
        return async (name: string, signal: AbortSignal) => {
          if (locks.isLocked(name)) return { requeueAfterMs: LOCKED_REQUEUE_MS };
          return locks.run(name, () => target.reconcile(name, signal));
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

export interface CoreDeployerOptions {
  /** The unlocked core (the caller already holds the worker's lock). */
  reconciler: Pick<FleetReconciler, 'reconcile'>;
  store: Store;
  clock: Clock;
  /** Give up after this long (default 20 min: full clones of big images are slow). */
  timeoutMs?: number;
}

/** Deploys through the reconcile core: sets wantDeployed and reconciles until the VM is there. */
export function coreDeployer(opts: CoreDeployerOptions): DeployFn {
  const { reconciler, store, clock } = opts;
  const timeoutMs = opts.timeoutMs ?? 20 * 60_000;
  return async (name, signal) => {
    const rec = store.getWorker(name);
    if (!rec) throw new TerminalError(`unknown worker ${name}`);
    if (!rec.wantDeployed) await store.saveWorker({ ...rec, wantDeployed: true });
    // Only an error of this attempt counts (an old test failure may still be in lastError).
    const errorBefore = rec.status.lastError;
    const deadline = clock.now() + timeoutMs;
    const ac = signal ?? new AbortController().signal;
    for (;;) {
      const res = await reconciler.reconcile(name, ac);
      const r = store.getWorker(name);
      if (!r) throw new TerminalError(`worker ${name} was removed while deploying`);
      if (r.vmid !== undefined && r.deployed && !r.intent)
        return { node: r.node ?? r.spec.host, vmid: r.vmid };
      const conflict = r.status.conditions.find((c) => c.reason === 'Conflict' && c.status === 'False');
      if (conflict) throw new ConflictError(conflict.message);
      if (r.status.lastError && r.status.lastError !== errorBefore && !res.requeueAfterMs) {
        throw new TerminalError(r.status.lastError);
      }
      if (clock.now() >= deadline) {
        throw new WaitTimeoutError(
          `worker ${name} was not deployed within ${Math.round(timeoutMs / 1000)} s`,
        );
      }
      await clock.sleep(Math.min(res.requeueAfterMs ?? 500, 2_000), signal);
    }
  };
}
