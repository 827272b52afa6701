/**
 * The reconcile core as the runtime sees it (FleetReconciler). One reconcile of one worker:
 *   1. resume an intent left in flight (resume.ts);
 *   2. observe: the pass's cluster listing (fresh after our own changes) and the worker's config
 *      when it is due (observe.ts);
 *   3. plan (plan.ts, pure) and execute the runnable actions (executor.ts); repeat from 2 until
 *      nothing runnable is left (create -> configure -> resize in one reconcile);
 *   4. always (finally) write the status (status.ts), also when the pass failed.
 * Errors: ApiValidationError and TerminalError are thrown as TerminalError (no hot retry);
 * conflicts are reported in status and requeued at the resync interval; a bounded task wait that
 * ran out returns requeueAfterMs (the UPID is in the store); anything else is thrown for the
 * queue's rate-limited retry.
 */
import { randomUUID } from 'node:crypto';
import { isoNow } from '../clock.js';
import {
  ApiValidationError,
  ConflictError,
  LockTimeoutError,
  LockedError,
  NotFoundError,
  TaskFailedError,
  TerminalError,
  TransientError,
  WaitTimeoutError,
  errorMessage,
} from '../errors.js';
import type { VmResource } from '../proxmox/types.js';
import type { LoadResult, WorkerRecord } from '../types.js';
import { VmidAllocator } from './execute/allocate.js';
import type { FleetReconciler, Plan, PlannedAction, ReconcileDeps, ReconcileResult } from './contracts.js';
import { mergeDesired } from './desired-state.js';
import { classify as classifyChange } from './diff.js';
import { Executor, type ExecutorHooks } from './execute/executor.js';
import { Observer } from './observe.js';
import { planFleet, planWorker, type PlanContext } from './plan.js';
import { resumeIntent } from './resume.js';
import { OperationSlots } from './execute/slots.js';
import { computeStatus, type ReconcileOutcome } from './status.js';
import { WorkerRun, withDesiredFields } from './worker-run.js';

/** A listing younger than this is reused by the first step of a reconcile. */
export const OBSERVATION_MAX_AGE_MS = 5_000;
/** Plan/execute rounds per reconcile before handing back to the queue. */
export const MAX_STEPS = 6;
/** Requeue while a change waits for sessions to end (the lifecycle also enqueues on session end). */
export const WAIT_REQUEUE_MS = 60_000;
/** Requeue while a task we stopped waiting for is still running. */
export const TASK_REQUEUE_MS = 5_000;

export interface FleetOptions {
  /** Test seam (crash simulation). */
  hooks?: ExecutorHooks;
  /** Record uids (default: random UUIDs). */
  newUid?: () => string;
}

/** Reconcile core: implements FleetReconciler. */
export class Fleet implements FleetReconciler {
  readonly observer: Observer;
  readonly slots: OperationSlots;
  readonly executor: Executor;
  #massDeleteBlocked: Plan['massDeleteBlocked'];
  readonly #overlay = new Map<string, WorkerRecord>();
  readonly #newUid: () => string;

  constructor(
    private readonly deps: ReconcileDeps,
    options: FleetOptions = {},
  ) {
    this.observer = new Observer(deps.client, deps.settings);
    this.slots = new OperationSlots(deps.settings.limits);
    this.executor = new Executor(deps, this.slots, new VmidAllocator(deps.client, deps.store), options.hooks);
    this.#newUid = options.newUid ?? (() => randomUUID());
    this.#massDeleteBlocked = deps.store.getMeta<Plan['massDeleteBlocked']>('massDeleteBlocked');
  }

  /** The last mass-delete guard verdict (undefined when removals went through). */
  get massDeleteBlocked(): Plan['massDeleteBlocked'] {
    return this.#massDeleteBlocked;
  }

  async applyDesired(load: LoadResult): Promise<{ changed: string[]; removed: string[]; plan: Plan }> {
    const { store, clock, logger } = this.deps;
    const snapshot = this.#records();
    const before = new Map(snapshot.map((r) => [r.name, r]));
    const merged = mergeDesired(snapshot, load, this.deps.settings, isoNow(clock), this.#newUid);
    this.#massDeleteBlocked = merged.massDeleteBlocked;
    const records = merged.save.map((rec) =>
      withDesiredFields(rec, before.get(rec.name), store.getWorker(rec.name)),
    );
    // The store takes the records into memory at once; the file write (one durable write for the whole
    // merge) runs while the plan reads Proxmox, so a saved manifest reaches its first Proxmox call without
    // waiting for the disk. It is awaited before returning: nothing is enqueued, and so nothing mutates
    // Proxmox, before the specs are on disk.
    let saving: Promise<unknown> = Promise.resolve();
    if (store.readOnly) {
      // `workerctl plan` on a read-only store: keep the merge in memory so plan() shows it.
      for (const rec of merged.save) this.#overlay.set(rec.name, rec);
    } else {
      saving = (async () => {
        await store.saveWorkers(records);
        if (JSON.stringify(merged.massDeleteBlocked) !== JSON.stringify(store.getMeta('massDeleteBlocked'))) {
          await store.setMeta('massDeleteBlocked', merged.massDeleteBlocked);
        }
      })().then(
        () => undefined,
        (err: unknown) => ({ failed: err }),
      );
    }
    if (merged.massDeleteBlocked) {
      logger.warn('mass delete held back', { ...merged.massDeleteBlocked });
    }
    // The plan is a preview: when Proxmox cannot be read now, plan from what was observed last.
    const plan = await this.plan().catch((err: unknown) => {
      logger.warn('plan without a fresh observation', { err });
      return planFleet(this.#records(), this.#ctx(), this.#massDeleteBlocked);
    });
    const saved = (await saving) as { failed: unknown } | undefined;
    if (saved) throw saved.failed;
    return { changed: merged.changed, removed: merged.removed, plan };
  }

  /** What applyDesired(load) followed by plan() would show, without writing anything (`workerctl plan`). */
  async previewDesired(load: LoadResult): Promise<Plan> {
    const { clock } = this.deps;
    const merged = mergeDesired(this.#records(), load, this.deps.settings, isoNow(clock), this.#newUid);
    const records = new Map(this.#records().map((r) => [r.name, r]));
    for (const r of merged.save) records.set(r.name, r);
    await this.#ensureObserved();
    return planFleet([...records.values()], this.#ctx(), merged.massDeleteBlocked);
  }

  async observe(): Promise<VmResource[]> {
    const now = this.deps.clock.now();
    const resources = await this.observer.list(now);
    for (const rec of this.#records()) {
      const vm = rec.vmid !== undefined ? resources.find((r) => r.vmid === rec.vmid) : undefined;
      await this.observer.configFor(rec, vm, now);
    }
    return resources;
  }

  async plan(): Promise<Plan> {
    await this.#ensureObserved();
    return planFleet(this.#records(), this.#ctx(), this.#massDeleteBlocked);
  }

  /** A listing if there is none; the configs of workers whose spec changed since it was taken. */
  async #ensureObserved(): Promise<void> {
    if (!this.observer.resources) {
      await this.observe();
      return;
    }
    const now = this.deps.clock.now();
    for (const rec of this.#records()) {
      const vm =
        rec.vmid !== undefined ? this.observer.resources.find((r) => r.vmid === rec.vmid) : undefined;
      if (this.observer.readReason(rec, vm, now) === 'spec') await this.observer.configFor(rec, vm, now);
    }
  }

  /** The store's records, with the in-memory merge of a read-only applyDesired on top. */
  #records(): WorkerRecord[] {
    const records = new Map(this.deps.store.listWorkers().map((r) => [r.name, r]));
    for (const [name, rec] of this.#overlay) records.set(name, rec);
    return [...records.values()];
  }

  #ctx(): PlanContext {
    const configs = new Map([...this.observer.configs.entries()].map(([k, v]) => [k, v.values]));
    return {
      resources: this.observer.resources ?? [],
      configs,
      ownerTag: this.deps.settings.ownerTag,
      pending: this.observer.pending,
      power: this.observer.power,
    };
  }

  async reconcile(name: string, signal: AbortSignal): Promise<ReconcileResult> {
    const { store, clock, logger } = this.deps;
    const stored = store.getWorker(name);
    if (!stored) return {};
    const log = logger.child({ worker: name, reconcileId: randomUUID().slice(0, 8) });
    const run = new WorkerRun(stored, store, clock, log);
    const outcome: ReconcileOutcome = { deployed: false, pending: [], history: run.history };
    try {
      return await this.#converge(run, outcome, signal);
    } catch (err) {
      if (err instanceof WaitTimeoutError) {
        log.info('task still running, will look again', { err });
        outcome.pending = [waitAction(name, 'a Proxmox task is still running')];
        return { requeueAfterMs: TASK_REQUEUE_MS };
      }
      if (err instanceof ConflictError) {
        log.warn('conflict, leaving the vm alone', { err });
        outcome.pending = [
          {
            worker: name,
            kind: 'conflict',
            class: 'none',
            reason: err.message,
            changes: [],
            blockedBy: 'Conflict',
          },
        ];
        return { requeueAfterMs: this.deps.settings.resyncIntervalMs };
      }
      const { thrown, reason, terminal } = classify(err);
      outcome.error = { message: errorMessage(err), reason, terminal };
      log.warn('reconcile failed', { err, reason, terminal });
      throw thrown;
    } finally {
      if (!run.dropped && store.getWorker(name)) {
        const rec = run.refresh();
        outcome.deployed = rec.vmid !== undefined && rec.deployed !== undefined;
        store.saveStatus(name, computeStatus(rec, outcome, isoNow(clock)));
      }
    }
  }

  async #converge(run: WorkerRun, outcome: ReconcileOutcome, signal: AbortSignal): Promise<ReconcileResult> {
    const { client, clock, settings } = this.deps;
    let mutated = false;
    for (let step = 0; step < MAX_STEPS; step++) {
      signal.throwIfAborted();
      const rec = run.refresh();
      if (rec.intent) {
        const before = rec.intent.vmid;
        const res = await resumeIntent(run, client, this.executor, signal, clock.now());
        this.observer.invalidate(before);
        mutated = true;
        if (res) {
          outcome.pending = [waitAction(run.name, 'a clone is still running')];
          return res;
        }
        continue;
      }
      const now = clock.now();
      const fresh =
        !mutated && this.observer.resources && now - this.observer.takenAt < OBSERVATION_MAX_AGE_MS;
      const resources = fresh ? this.observer.resources! : await this.observer.refresh(now);
      const vm = rec.vmid !== undefined ? resources.find((r) => r.vmid === rec.vmid) : undefined;
      const cfg = await this.observer.configFor(rec, vm, now, mutated);
      const configs = new Map<number, Record<string, string>>(vm && cfg ? [[vm.vmid, cfg.values]] : []);
      const pendingKeys = vm && cfg ? this.observer.pending.get(vm.vmid) : undefined;
      const ctx: PlanContext = { resources, configs, ownerTag: settings.ownerTag };
      if (vm && pendingKeys) ctx.pending = new Map([[vm.vmid, pendingKeys]]);
      let wp = planWorker(rec, ctx);
      if (vm && wp.actions.some(dependsOnPower)) {
        // The listing's power state may be seconds old (cache, RRD lag): whether cpu/memory changes
        // need a restart is decided on a status read made now.
        try {
          const st = await client.status(vm.node, vm.vmid);
          this.observer.power.set(vm.vmid, st.status);
          wp = planWorker(rec, { ...ctx, power: new Map([[vm.vmid, st.status]]) });
        } catch (err) {
          if (!(err instanceof NotFoundError)) throw err;
          mutated = true; // gone since the listing: look again
          continue;
        }
      }
      outcome.pending = wp.actions.filter(isPending);
      const runnable = wp.actions.filter((a) => !isPending(a) && a.kind !== 'resume');
      if (runnable.length === 0) {
        if (outcome.pending.some((a) => a.kind === 'conflict'))
          return { requeueAfterMs: settings.resyncIntervalMs };
        return outcome.pending.length > 0 ? { requeueAfterMs: WAIT_REQUEUE_MS } : {};
      }
      for (const action of runnable) {
        run.log.info('executing', { kind: action.kind, reason: action.reason });
        const vmidBefore = run.rec.vmid;
        await this.executor.execute(run, action, wp, resources, signal);
        this.observer.invalidate(vmidBefore);
        this.observer.invalidate(run.rec.vmid);
        mutated = true;
        if (run.dropped) return {};
      }
    }
    return { requeueAfterMs: TASK_REQUEUE_MS };
  }
}

/** True when what `a` does depends on whether the VM runs (restart-class keys, a restart). */
function dependsOnPower(a: PlannedAction): boolean {
  return a.kind === 'restart' || a.changes.some((c) => classifyChange(c.field, true) === 'restart');
}

function isPending(a: PlannedAction): boolean {
  return a.blockedBy !== undefined || a.kind === 'wait' || a.kind === 'conflict';
}

function waitAction(worker: string, why: string): PlannedAction {
  return { worker, kind: 'wait', class: 'none', reason: why, changes: [], blockedBy: why };
}

/** Maps an error to what the queue gets, the status reason and whether retrying is pointless. */
export function classify(err: unknown): { thrown: unknown; reason: string; terminal: boolean } {
  if (err instanceof ApiValidationError) {
    return {
      thrown: new TerminalError(`proxmox refused the request: ${err.message}`, { cause: err }),
      reason: 'InvalidRequest',
      terminal: true,
    };
  }
  if (err instanceof TerminalError) return { thrown: err, reason: 'Terminal', terminal: true };
  if (err instanceof TaskFailedError) return { thrown: err, reason: 'TaskFailed', terminal: false };
  if (err instanceof LockedError || err instanceof LockTimeoutError)
    return { thrown: err, reason: 'Locked', terminal: false };
  if (err instanceof TransientError) return { thrown: err, reason: 'Transient', terminal: false };
  return { thrown: err, reason: 'Error', terminal: false };
}

/** Builds the reconcile core over its dependencies. */
export function createFleetReconciler(deps: ReconcileDeps, options: FleetOptions = {}): Fleet {
  return new Fleet(deps, options);
}
