/**
 * What the lifecycle needs of a worker's VM, and how it gets it from the reconcile core. A test or a
 * session start runs under the worker's lock (WorkerLocks.run); inside it, the VM is deployed,
 * powered on and off (WorkerPower). On the core, the lock is a hold on the worker against the
 * reconcile queue (reconcile/contracts.ts WorkerHolds): a deploy awaits reconciles of the held worker
 * and reads their typed result, and power goes through the executor like every other mutation.
 */
import type { Clock } from '../clock.js';
import { ConflictError, TerminalError, WaitTimeoutError, WorkerctlError } from '../errors.js';
import type { Logger } from '../log.js';
import type { HeldWorker, VmLocation, WorkerHolds } from '../reconcile/contracts.js';
import type { Store } from '../store/store.js';
import type { WorkerRecord } from '../types.js';
import { updateLifecycle } from './state.js';

export type { VmLocation } from '../reconcile/contracts.js';

/** Runs lifecycle work on one worker at a time (tests, session starts, power off). */
export interface WorkerLocks {
  run<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

/** What the lifecycle needs done to a worker's VM; called with the worker's lock held. */
export interface WorkerPower {
  /** Makes sure the VM exists (deploys an OnDemand worker), and says where it is. */
  ensureDeployed(name: string, cause: string, signal?: AbortSignal): Promise<VmLocation>;
  /** Powers the VM on and waits for the start task (not for the guest). */
  powerOn(name: string, cause: string, signal?: AbortSignal): Promise<void>;
  /** Shuts the VM down (graceful, then hard after the timeout) and waits. */
  powerOff(name: string, cause: string, signal?: AbortSignal): Promise<void>;
}

/** The worker has no VM and none can be deployed here. */
export class NotDeployedError extends WorkerctlError {}

export interface CoreWorkersOptions {
  holds: WorkerHolds;
  store: Store;
  clock: Clock;
  logger: Logger;
  /** Give up a deploy after this long (default 20 min: full clones of big images are slow). */
  deployTimeoutMs?: number;
}

/** WorkerLocks and WorkerPower on the reconcile core. */
export class CoreWorkers implements WorkerLocks, WorkerPower {
  readonly #o: CoreWorkersOptions;
  readonly #held = new Map<string, HeldWorker>();

  constructor(options: CoreWorkersOptions) {
    this.#o = options;
  }

  run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.#o.holds.hold(name, async (held) => {
      this.#held.set(name, held);
      try {
        return await fn();
      } finally {
        this.#held.delete(name);
      }
    });
  }

  #heldOf(name: string): HeldWorker {
    const held = this.#held.get(name);
    if (!held) throw new Error(`internal: worker ${name} is not held by the lifecycle`);
    return held;
  }

  /**
   * Deploys an OnDemand worker through the core: asks for a VM (wantDeployed, the plan's hook) and
   * reconciles the held worker until its result names the deployed VM.
   */
  async ensureDeployed(name: string, cause: string, signal?: AbortSignal): Promise<VmLocation> {
    const { store, clock, logger } = this.#o;
    const rec = store.getWorker(name);
    if (!rec) throw new TerminalError(`unknown worker ${name}`);
    const loc = location(rec);
    if (loc) return loc;
    const held = this.#heldOf(name);
    if (!rec.wantDeployed) updateLifecycle(this.#o, name, (lc) => ({ ...lc, wantDeployed: true }));
    const timeoutMs = this.#o.deployTimeoutMs ?? 20 * 60_000;
    const deadline = clock.now() + timeoutMs;
    for (;;) {
      const res = await held.reconcile(signal);
      if (res.vm) {
        updateLifecycle(this.#o, name, (lc, _rec, note) => {
          note('deployed', cause);
          return lc;
        });
        logger.info('worker deployed', { worker: name, vmid: res.vm.vmid, node: res.vm.node });
        return res.vm;
      }
      const out = res.outcome;
      if (out.kind === 'conflict') throw new ConflictError(out.reason);
      if (out.kind === 'gone') throw new TerminalError(`worker ${name} was removed while deploying`);
      if (out.kind === 'converged') throw new NotDeployedError(`worker ${name} converged without a vm`);
      if (clock.now() >= deadline) {
        throw new WaitTimeoutError(
          `worker ${name} was not deployed within ${Math.round(timeoutMs / 1000)} s: ${out.reason}`,
        );
      }
      await clock.sleep(Math.min(res.requeueAfterMs ?? 500, 2_000), signal);
    }
  }

  powerOn(name: string, cause: string, signal?: AbortSignal): Promise<void> {
    return this.#heldOf(name).power('start', cause, signal);
  }

  powerOff(name: string, cause: string, signal?: AbortSignal): Promise<void> {
    return this.#heldOf(name).power('shutdown', cause, signal);
  }
}

/** Where the record says the worker's VM is. */
function location(rec: WorkerRecord): VmLocation | undefined {
  const vmid = rec.vmid ?? rec.status.vmid;
  const node = rec.node ?? rec.status.node ?? rec.spec.host;
  return vmid !== undefined ? { node, vmid } : undefined;
}
