/**
 * The reconciler: converges one worker, level-triggered (it gets only a name and reads everything it
 * needs). One reconcile:
 *   1. resume an intent left in flight (resume.ts);
 *   2. observe: the pass's cluster listing (fresh after our own changes; after a deploy, only the
 *      new VM's config, #placeDeployed) and the worker's config when it is due (observe.ts);
 *   3. plan (plan.ts, pure) and execute the runnable actions (execute/executor.ts); repeat from 2
 *      until nothing runnable is left (create -> configure -> resize in one reconcile);
 *   4. always (finally) write the status (status.ts), also when the pass failed.
 * It ends with a typed ReconcileResult (contracts.ts). Errors: ApiValidationError and TerminalError
 * are thrown as TerminalError (no hot retry); conflicts are reported in status and requeued at the
 * resync interval; a bounded task wait that ran out returns requeueAfterMs (the UPID is in the
 * store); anything else is thrown for the queue's rate-limited retry.
 */
import { randomUUID } from 'node:crypto';
import { isoNow } from '../clock.js';
import {
  ApiValidationError,
  ChecksumMismatchError,
  ConflictError,
  DeadLockError,
  DeployRefusedError,
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
import type { WorkerRecord } from '../types.js';
import type {
  Plan,
  PlannedAction,
  PowerOp,
  ReconcileDeps,
  ReconcileResult,
  VmLocation,
} from './contracts.js';
import { classify as classifyChange } from './diff.js';
import { normalizeTags } from './normalize.js';
import type { Executor } from './execute/executor.js';
import { Observer } from './observe.js';
import { fleetPlanOf, planFleet, planWorker, type PlanContext, type WorkerPlan } from './plan.js';
import { resumeIntent } from './resume.js';
import { computeStatus, type PassReport } from './status.js';
import { WorkerRun } from './worker-run.js';

/** A listing younger than this is reused by the first step of a reconcile. */
export const OBSERVATION_MAX_AGE_MS = 5_000;
/** Plan/execute rounds per reconcile before handing back to the queue. */
export const MAX_STEPS = 6;
/** Requeue while a change waits for sessions to end (the lifecycle also enqueues on session end). */
export const WAIT_REQUEUE_MS = 60_000;
/** Requeue while a task we stopped waiting for is still running. */
export const TASK_REQUEUE_MS = 5_000;

/** Observes, plans and reconciles the workers of the store. */
export class Reconciler {
  readonly observer: Observer;

  constructor(
    private readonly deps: ReconcileDeps,
    readonly executor: Executor,
  ) {
    this.observer = new Observer(deps.client, deps.settings, {
      listings: executor.listings,
      scopes: executor.scopes,
    });
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

  /**
   * The fleet's plan over the store's records (or `records`), observing first when needed. What
   * the listing alone cannot tell is read for the workers it matters to, as a reconcile would: the
   * facts of a create's deploy path, the names of unnamed entries next to a create, a fresh power
   * state where a change depends on it, whether a lock is held by a task.
   */
  async plan(massDeleteBlocked?: Plan['massDeleteBlocked'], records?: WorkerRecord[]): Promise<Plan> {
    await this.ensureObserved(records);
    const all = records ?? this.#records();
    const ctx = this.#ctx();
    const plans = all.map((r) => planWorker(r, ctx));
    let learnt = false;
    for (let i = 0; i < all.length; i++) {
      if (await this.#readWhatPlanNeeds(all[i]!, plans[i]!, ctx)) learnt = true;
    }
    return learnt ? this.planObserved(massDeleteBlocked, all) : fleetPlanOf(plans, massDeleteBlocked);
  }

  /** The plan from what was observed last, without reading Proxmox. */
  planObserved(massDeleteBlocked?: Plan['massDeleteBlocked'], records = this.#records()): Plan {
    return planFleet(records, this.#ctx(), massDeleteBlocked);
  }

  /** A listing if there is none; the configs of workers whose spec changed since it was taken. */
  async ensureObserved(records = this.#records()): Promise<void> {
    if (!this.observer.resources) {
      await this.observe();
      return;
    }
    const now = this.deps.clock.now();
    for (const rec of records) {
      const vm =
        rec.vmid !== undefined ? this.observer.resources.find((r) => r.vmid === rec.vmid) : undefined;
      if (this.observer.readReason(rec, vm, now) === 'spec') await this.observer.configFor(rec, vm, now);
    }
  }

  #records(): WorkerRecord[] {
    return this.deps.store.listWorkers();
  }

  #ctx(configs?: ReadonlyMap<number, Readonly<Record<string, string>>>): PlanContext {
    return {
      resources: this.observer.named(this.observer.resources ?? []),
      configs: configs ?? new Map([...this.observer.configs.entries()].map(([k, v]) => [k, v.values])),
      ownerTag: this.deps.settings.ownerTag,
      pending: this.observer.pending,
      power: this.observer.power,
      deploy: this.observer.facts(),
      deadLocks: this.observer.deadLocks,
      skiplock: this.deps.settings.skiplock,
    };
  }

  /** The vmids our records hold (read once per listing: a reservation made since only costs a read). */
  #recordedVmids(): ReadonlySet<number> {
    return this.observer.recorded(
      () => new Set(this.#records().flatMap((r) => (r.vmid === undefined ? [] : [r.vmid]))),
    );
  }

  /**
   * Reads what `rec`'s plan `wp` (made in `ctx`) cannot do without (see plan()); resolves true when
   * something was learnt, so the worker is planned again.
   */
  async #readWhatPlanNeeds(rec: WorkerRecord, wp: WorkerPlan, ctx: PlanContext): Promise<boolean> {
    let learnt = false;
    if (wp.actions.some((a) => a.kind === 'create' && !a.blockedBy)) {
      if (wp.needsFacts) {
        await this.observer.readDeployFacts(wp.needsFacts, rec.spec.host);
        learnt = true;
      }
      // The listing may not show a fresh VM's name yet: a create must not miss a clash (invariant 3).
      if (await this.observer.readMissingNames(ctx.resources, () => this.#recordedVmids())) learnt = true;
    }
    const id = wp.ownership.identity;
    const vm = id.kind === 'ours' ? id.vm : undefined;
    if (vm && wp.actions.some(dependsOnPower) && !this.observer.power.has(vm.vmid)) {
      // The listing's power state may be seconds old (cache, RRD lag).
      try {
        this.observer.power.set(vm.vmid, (await this.deps.client.status(vm.node, vm.vmid)).status);
        learnt = true;
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    if (vm?.lock && wp.actions.some((a) => a.kind === 'wait') && !this.observer.deadLocks.has(vm.vmid)) {
      if (await this.observer.isDeadLock(vm)) learnt = true;
    }
    return learnt;
  }

  async reconcile(name: string, signal: AbortSignal): Promise<ReconcileResult> {
    const { store, clock, logger } = this.deps;
    const stored = store.getWorker(name);
    if (!stored) return { outcome: { kind: 'gone' } };
    const log = logger.child({ worker: name, reconcileId: randomUUID().slice(0, 8) });
    const run = new WorkerRun(stored, store, clock, log);
    const outcome: PassReport = { deployed: false, pending: [], history: run.history };
    try {
      const result = await this.#converge(run, outcome, signal);
      if (run.dropped) return { outcome: { kind: 'gone' } };
      const vm = deployedVm(run.refresh());
      return vm ? { ...result, vm } : result;
    } catch (err) {
      if (err instanceof WaitTimeoutError) {
        log.info('task still running, will look again', { err });
        outcome.pending = [waitAction(name, 'a Proxmox task is still running')];
        return {
          outcome: { kind: 'pending', reason: 'a Proxmox task is still running' },
          requeueAfterMs: TASK_REQUEUE_MS,
        };
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
        return {
          outcome: { kind: 'conflict', reason: err.message },
          requeueAfterMs: this.deps.settings.resyncIntervalMs,
        };
      }
      const { thrown, reason, terminal } = classify(err);
      outcome.error = { message: errorMessage(err), reason, terminal };
      log.warn('reconcile failed', { err, reason, terminal });
      throw thrown;
    } finally {
      this.executor.listings.release(name);
      const prev = run.dropped ? undefined : store.getSections(name)?.status;
      if (prev) {
        const rec = run.refresh();
        outcome.deployed = rec.vmid !== undefined && rec.deployed !== undefined;
        store.saveStatus(name, computeStatus(rec, outcome, isoNow(clock), prev), run.history);
      }
    }
  }

  async #converge(run: WorkerRun, outcome: PassReport, signal: AbortSignal): Promise<ReconcileResult> {
    const { client, clock, settings } = this.deps;
    let mutated = false;
    /** The vmid of the deploy this reconcile just finished: its check needs its config, no listing. */
    let deployed: number | undefined;
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
          return { ...res, outcome: { kind: 'pending', reason: 'a clone is still running' } };
        }
        continue;
      }
      if (rec.deploy) {
        // A deploy's later steps (move, migration, finish), each its own intent.
        const before = rec.vmid;
        await this.executor.continueDeploy(run, signal);
        this.observer.invalidate(before);
        mutated = true;
        deployed = justDeployed(run.refresh());
        continue;
      }
      const now = clock.now();
      const placed = deployed !== undefined && (await this.#placeDeployed(rec, now));
      deployed = undefined;
      const fresh =
        placed ||
        (!mutated && this.observer.resources && now - this.observer.takenAt < OBSERVATION_MAX_AGE_MS);
      if (!fresh) await this.observer.refresh(now);
      const resources = this.observer.named(this.observer.resources!);
      const vm = rec.vmid !== undefined ? resources.find((r) => r.vmid === rec.vmid) : undefined;
      const cfg = await this.observer.configFor(rec, vm, now, mutated && !placed);
      const configs = new Map<number, Record<string, string>>(vm && cfg ? [[vm.vmid, cfg.values]] : []);
      const pendingKeys = vm && cfg ? this.observer.pending.get(vm.vmid) : undefined;
      const ctx: PlanContext = {
        ...this.#ctx(configs),
        resources,
        pending: pendingKeys && vm ? new Map([[vm.vmid, pendingKeys]]) : undefined,
        power: undefined,
      };
      if (vm && dependsOnPowerAny(planWorker(rec, ctx))) {
        // The listing's power state may be seconds old (cache, RRD lag): whether cpu/memory changes
        // need a restart is decided on a status read made now.
        try {
          const st = await client.status(vm.node, vm.vmid);
          this.observer.power.set(vm.vmid, st.status);
          ctx.power = new Map([[vm.vmid, st.status]]);
        } catch (err) {
          if (!(err instanceof NotFoundError)) throw err;
          mutated = true; // gone since the listing: look again
          continue;
        }
      }
      let wp = planWorker(rec, ctx);
      // A deploy's name check will list the cluster: deploys planned meanwhile share that listing.
      if (wp.actions.some(isRunnableCreate)) this.executor.listings.expect(run.name);
      if (await this.#readWhatPlanNeeds(rec, wp, ctx)) {
        wp = planWorker(rec, {
          ...ctx,
          resources: this.observer.named(resources),
          deploy: this.observer.facts(),
        });
      }
      if (!wp.actions.some(isRunnableCreate)) this.executor.listings.release(run.name);
      outcome.pending = wp.actions.filter(isPending);
      const runnable = wp.actions.filter((a) => !isPending(a) && a.kind !== 'resume');
      if (runnable.length === 0) {
        const conflict = outcome.pending.find((a) => a.kind === 'conflict');
        if (conflict) {
          return {
            outcome: { kind: 'conflict', reason: conflict.reason },
            requeueAfterMs: settings.resyncIntervalMs,
          };
        }
        const refused = outcome.pending.find((a) => a.kind === 'create' && a.blockedBy);
        if (refused) {
          // A plan-time error of the deploy: nothing is tried until the spec changes (or a resync).
          outcome.pending = [];
          const [code, ...rest] = refused.blockedBy!.split(': ');
          throw new DeployRefusedError(rest.join(': '), code as DeployRefusedError['reason']);
        }
        const waiting = outcome.pending[0];
        if (waiting) {
          const reason = waiting.blockedBy ? `${waiting.reason}: ${waiting.blockedBy}` : waiting.reason;
          return { outcome: { kind: 'pending', reason }, requeueAfterMs: WAIT_REQUEUE_MS };
        }
        return { outcome: { kind: 'converged' } };
      }
      // The config the plan was made on serves the first action only: after it, ours changed it.
      let planned = vm && cfg && vm.vmid === run.rec.vmid ? cfg : undefined;
      for (const action of runnable) {
        run.log.info('executing', { kind: action.kind, reason: action.reason });
        const vmidBefore = run.rec.vmid;
        let stale = false;
        const config = planned;
        planned = undefined;
        try {
          await this.executor.execute(run, action, wp, resources, signal, config);
        } catch (err) {
          // Someone wrote the config between our read and our write (PVE checks the digest again
          // under the VM's flock): read again and plan again, never overwrite what we did not see.
          if (!(err instanceof ChecksumMismatchError)) throw err;
          run.log.info('config changed meanwhile; reading it again and planning again', {
            kind: action.kind,
          });
          run.note('config changed meanwhile', `${action.kind} planned again on a fresh read`);
          stale = true;
        } finally {
          this.observer.invalidate(vmidBefore);
          this.observer.invalidate(run.rec.vmid);
        }
        mutated = true;
        if (run.dropped) return { outcome: { kind: 'gone' } };
        if (stale) break;
        if (action.kind === 'create') deployed = justDeployed(run.rec);
      }
    }
    return {
      outcome: { kind: 'pending', reason: `not converged after ${MAX_STEPS} steps` },
      requeueAfterMs: TASK_REQUEUE_MS,
    };
  }

  /**
   * The check after a deploy this reconcile finished reads only what it cannot know: the config as
   * PVE stored it, with its pending keys (one GET …/pending, observe.ts). Where the VM is, its name,
   * tags and lock come from that read and the record; it is stopped, as a clone leaves it
   * (qemu-server PVE/API2/Qemu.pm clone_vm starts nothing; a start made outside meanwhile leaves
   * restart-class keys pending, which the plan reads as running). The entry goes into the listing
   * in place of a cluster listing; the next pass lists the cluster as usual. False when the config
   * could not be read (the pass lists the cluster).
   */
  async #placeDeployed(rec: WorkerRecord, now: number): Promise<boolean> {
    if (rec.vmid === undefined || rec.node === undefined || !this.observer.resources) return false;
    const at: VmResource = {
      vmid: rec.vmid,
      node: rec.node,
      type: 'qemu',
      status: 'stopped',
      template: false,
      tags: [],
    };
    const cfg = await this.observer.configFor(rec, at, now, true);
    if (!cfg) return false;
    const v = cfg.values;
    const tags = normalizeTags(v.tags ?? '');
    this.observer.place({
      ...at,
      ...(v.name !== undefined ? { name: v.name } : {}),
      ...(v.lock !== undefined ? { lock: v.lock } : {}),
      template: v.template === '1',
      tags: tags ? tags.split(';') : [],
    });
    return true;
  }

  /**
   * Powers a worker's VM on or off through the executor (a HeldWorker's power): the intent is
   * written first, the task's UPID recorded, the history says why. Nothing to do when the VM is
   * already in that state.
   */
  async power(name: string, op: PowerOp, cause: string, signal: AbortSignal): Promise<void> {
    const { store, clock, logger } = this.deps;
    const stored = store.getWorker(name);
    if (!stored) throw new TerminalError(`unknown worker ${name}`);
    const vm = locationOf(stored);
    if (!vm) throw new TerminalError(`worker ${name} has no vm`);
    const run = new WorkerRun(stored, store, clock, logger.child({ worker: name }));
    const done = await this.executor.power(run, { op, vm, signal });
    if (!done) return;
    this.observer.invalidate(vm.vmid);
    run.note(op === 'start' ? 'powered on' : 'powered off', cause);
    run.flushHistory();
    logger.info(op === 'start' ? 'worker powered on' : 'worker powered off', {
      worker: name,
      vmid: vm.vmid,
      node: vm.node,
    });
  }
}

/** Where the record says the worker's VM is (a reservation without a clone included). */
function locationOf(rec: WorkerRecord): VmLocation | undefined {
  const vmid = rec.vmid ?? rec.status.vmid;
  const node = rec.node ?? rec.status.node ?? rec.spec.host;
  return vmid !== undefined ? { node, vmid } : undefined;
}

/** The worker's VM when it is deployed: cloned, finished, no call in flight. */
function deployedVm(rec: WorkerRecord): VmLocation | undefined {
  if (rec.vmid === undefined || !rec.deployed || rec.intent) return undefined;
  return { node: rec.node ?? rec.spec.host, vmid: rec.vmid };
}

/** The vmid of the record's VM when its deploy has finished (nothing in flight), else undefined. */
function justDeployed(rec: WorkerRecord): number | undefined {
  return rec.deployed && !rec.deploy && !rec.intent ? rec.vmid : undefined;
}

/** True when some action of `wp` depends on whether the VM runs. */
function dependsOnPowerAny(wp: ReturnType<typeof planWorker>): boolean {
  return wp.actions.some(dependsOnPower);
}

/** True when what `a` does depends on whether the VM runs (restart-class keys, a restart). */
function dependsOnPower(a: PlannedAction): boolean {
  return a.kind === 'restart' || a.changes.some((c) => classifyChange(c.field, true) === 'restart');
}

function isRunnableCreate(a: PlannedAction): boolean {
  return a.kind === 'create' && !a.blockedBy;
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
  if (err instanceof DeployRefusedError) return { thrown: err, reason: err.reason, terminal: true };
  if (err instanceof TerminalError) return { thrown: err, reason: 'Terminal', terminal: true };
  if (err instanceof TaskFailedError) return { thrown: err, reason: 'TaskFailed', terminal: false };
  if (err instanceof DeadLockError) return { thrown: err, reason: 'LockedByDeadTask', terminal: false };
  if (err instanceof LockedError || err instanceof LockTimeoutError)
    return { thrown: err, reason: 'Locked', terminal: false };
  if (err instanceof TransientError) return { thrown: err, reason: 'Transient', terminal: false };
  return { thrown: err, reason: 'Error', terminal: false };
}
