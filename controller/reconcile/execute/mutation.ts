/**
 * The one way workerctl mutates Proxmox: every mutating call takes its per-node / per-storage /
 * clone slots (slots.ts), is preceded by a durable intent in the worker's record (invariant 4), has
 * its task's UPID recorded as soon as the call returns it, and a bounded wait; the intent is cleared
 * once the task ended. The operations (clone.ts, configure.ts, resize.ts, power.ts, remove.ts) call
 * Proxmox only through mutate() or call().
 *
 * A wait that runs out leaves the intent with its UPID in the store and the reconcile asks to be
 * requeued; the next pass (or a restarted controller) follows the same task (resume.ts) instead of
 * sending the call again.
 */
import { isoNow, type Clock } from '../../clock.js';
import { TaskFailedError, TransientError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { ProxmoxClient } from '../../proxmox/client.js';
import type { TaskRef } from '../../proxmox/types.js';
import type { Store } from '../../store/store.js';
import type { Intent } from '../../types.js';
import type { ControllerSettings, VmLocation } from '../contracts.js';
import type { WorkerRun } from '../worker-run.js';
import type { VmidAllocator } from './allocate.js';
import type { OperationSlots, SlotRequest } from './slots.js';
import { FreshListing } from '../fresh-listing.js';
import { StorageScopes } from './storage-scope.js';

/**
 * Bounded waits for tasks within one reconcile (below the loop's reconcile timeout). The task keeps
 * running in PVE when we stop waiting; the next pass follows its recorded UPID.
 */
export const CLONE_WAIT_MS = 5 * 60_000;
export const TASK_WAIT_MS = 3 * 60_000;

/** Test seam: lets a test stop the executor at the worst moment (right after a call returned). */
export interface ExecutorHooks {
  /**
   * Runs after a mutating call returned and before its UPID is recorded ('finish': after a deploy's
   * last config write, before the deploy is recorded as done). Throwing simulates a crash.
   */
  afterCall?(op: Intent['op'] | 'finish', worker: string, task: TaskRef | undefined): void | Promise<void>;
}

export interface ExecutorDeps {
  client: ProxmoxClient;
  store: Store;
  logger: Logger;
  clock: Clock;
  settings: ControllerSettings;
  slots: OperationSlots;
  allocator: VmidAllocator;
  hooks?: ExecutorHooks;
}

/** One mutating call, from the slot to the cleared intent. */
export interface MutateOptions {
  op: Intent['op'];
  /** The VM the call changes (recorded in the intent). */
  target: VmLocation;
  /** The slots the call takes. */
  slot: SlotRequest;
  /** The Proxmox call itself; returns its task, if it has one. */
  call: () => Promise<TaskRef | void>;
  signal: AbortSignal;
  /** Bounded wait for the task (default TASK_WAIT_MS). */
  waitMs?: number;
  /** Keep the intent once the task ended, also when it failed: the caller clears it with its step. */
  keepIntent?: boolean;
}

/** The part of a mutation after the intent is on disk and the slots are held. */
export type CallOptions = Pick<MutateOptions, 'op' | 'call' | 'signal' | 'waitMs' | 'keepIntent'>;

export class Mutations {
  /** Which storages are shared, for keying the storage and clone slots. */
  readonly scopes: StorageScopes;
  /** Cluster listings taken after the caller asked, one for concurrent callers (name checks). */
  readonly listings: FreshListing;

  constructor(readonly deps: ExecutorDeps) {
    this.scopes = new StorageScopes(deps.client, deps.clock);
    this.listings = new FreshListing(() => deps.client.vmResources());
  }

  /** Intent saved, call, UPID saved, bounded wait, intent cleared; all under the slots. */
  async mutate(run: WorkerRun, opts: MutateOptions): Promise<void> {
    const release = await this.acquire(opts.slot, opts.signal);
    try {
      const { node, vmid } = opts.target;
      run.rec.intent = { op: opts.op, node, vmid, startedAt: isoNow(this.deps.clock) };
      await run.persist();
      await this.call(run, opts);
    } finally {
      release();
    }
  }

  /** Takes the slots of `slot`, learning whether its storage is shared when the caller did not say. */
  async acquire(slot: SlotRequest, signal: AbortSignal): Promise<() => void> {
    const req =
      slot.storage !== undefined && slot.shared === undefined
        ? { ...slot, shared: await this.scopes.isShared(slot.node, slot.storage) }
        : slot;
    return this.deps.slots.acquire(req, signal);
  }

  /**
   * The call with its intent already on disk and its slots held: call, UPID saved, bounded wait,
   * intent cleared (unless kept). A clone's intent survives a transient failure (its fate is
   * unknown: resume.ts looks for the VM).
   */
  async call(run: WorkerRun, opts: CallOptions): Promise<void> {
    const { op, signal } = opts;
    let task: TaskRef | void;
    try {
      task = await opts.call();
    } catch (err) {
      if (!(op === 'clone' && err instanceof TransientError)) {
        run.rec.intent = undefined;
        await run.persist();
      }
      throw err;
    }
    await this.deps.hooks?.afterCall?.(op, run.name, task ?? undefined);
    if (task) {
      run.rec.intent = { ...run.rec.intent!, upid: task.upid };
      // The UPID only spares resume.ts a lookup (the intent is already on disk): its write runs
      // while the task does, instead of delaying the wait by one file write.
      await Promise.all([
        run.persist(),
        this.waitTask(run, task, signal, opts.waitMs ?? TASK_WAIT_MS, opts.keepIntent),
      ]);
    }
    if (!opts.keepIntent) {
      // Not awaited: a stale intent is harmless (resume follows the ended task or drops it), and the
      // next intent's durable write carries this change with it (writes go out in order).
      run.rec.intent = undefined;
      run.persist().catch((err: unknown) => run.log.warn('clearing an intent not written yet', { err }));
    }
  }

  /**
   * Waits for a task; a failed task clears the intent (the error is rethrown), unless `keepIntent`:
   * then the caller decides from the intent what the failure left behind.
   */
  async waitTask(
    run: WorkerRun,
    task: TaskRef,
    signal: AbortSignal,
    waitMs: number,
    keepIntent = false,
  ): Promise<void> {
    try {
      await this.deps.client.waitForTask(task, { signal, timeoutMs: waitMs });
    } catch (err) {
      if (err instanceof TaskFailedError && !keepIntent) {
        run.rec.intent = undefined;
        await run.persist();
      }
      throw err;
    }
  }
}
