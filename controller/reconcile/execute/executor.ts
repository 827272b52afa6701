/**
 * The only module that mutates Proxmox. Every mutating call is preceded by a durable intent in the
 * store (invariant 4) and the task's UPID is recorded as soon as the call returns it; the intent is
 * cleared once the task ended. Calls take per-node / per-storage / clone slots (slots.ts).
 *
 * Task waits are bounded: a wait that runs out leaves the intent with its UPID in the store and the
 * reconcile asks to be requeued; the next pass (or a restarted controller) follows the same task
 * (resume.ts) instead of sending the call again.
 */
import { isoNow } from '../../clock.js';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  TaskFailedError,
  TerminalError,
  TransientError,
  errorMessage,
} from '../../errors.js';
import type { TaskRef, VmResource } from '../../proxmox/types.js';
import type { Intent, WorkerRecord } from '../../types.js';
import type { PlannedAction, ReconcileDeps } from '../contracts.js';
import type { VmidAllocator } from './allocate.js';
import { desiredDescription, desiredTags, stripMarker } from '../desired-config.js';
import { buildConfigChange, diffConfig } from '../diff.js';
import { diskStorage, normalizeTags } from '../normalize.js';
import { assertNameFree } from './name-check.js';
import { markerMatches } from '../ownership.js';
import { causeOf, describeChanges, type WorkerPlan } from '../plan.js';
import type { OperationSlots, SlotRequest } from './slots.js';
import { StorageScopes } from './storage-scope.js';
import type { WorkerRun } from '../worker-run.js';

/**
 * Bounded waits for tasks within one reconcile (below the runtime's reconcile timeout). The task
 * keeps running in PVE when we stop waiting; the next pass follows its recorded UPID.
 */
export const CLONE_WAIT_MS = 5 * 60_000;
export const TASK_WAIT_MS = 3 * 60_000;
/**
 * A clone whose UPID was never recorded (crash right after the call) and whose VM is still locked
 * this long after the intent was written is taken for dead (the community norm for a clone
 * timeout is 30 min, PEERS.md §3).
 */
export const CLONE_ABANDON_MS = 30 * 60_000;

/** Test seam: lets a test stop the executor at the worst moment (right after a call returned). */
export interface ExecutorHooks {
  /** Runs after a mutating call returned and before its UPID is recorded. Throwing simulates a crash. */
  afterCall?(op: Intent['op'], worker: string, task: TaskRef | undefined): void | Promise<void>;
}

/** The template VM a spec names (a vmid or a name), preferring one on the worker's host. */
export function findTemplate(resources: readonly VmResource[], spec: WorkerRecord['spec']): VmResource {
  const t = spec.template;
  const byId = typeof t === 'number' || /^\d+$/.test(t);
  const found = resources
    .filter((r) => r.template && (byId ? r.vmid === Number(t) : r.name === t))
    .sort((a, b) => (a.node === spec.host ? 0 : 1) - (b.node === spec.host ? 0 : 1) || a.vmid - b.vmid);
  if (!found[0]) throw new TerminalError(`template ${t} not found in the cluster`);
  return found[0];
}

export class Executor {
  /** Which storages are shared, for keying the storage and clone slots. */
  readonly scopes: StorageScopes;

  constructor(
    private readonly deps: ReconcileDeps,
    private readonly slots: OperationSlots,
    private readonly allocator: VmidAllocator,
    private readonly hooks: ExecutorHooks = {},
  ) {
    this.scopes = new StorageScopes(deps.client, deps.clock);
  }

  /** Carries out one planned action of `wp` for the run's worker. */
  async execute(
    run: WorkerRun,
    action: PlannedAction,
    wp: WorkerPlan,
    resources: readonly VmResource[],
    signal: AbortSignal,
  ): Promise<void> {
    const id = wp.ownership.identity;
    const vm = id.kind === 'ours' || id.kind === 'half' ? id.vm : undefined;
    switch (action.kind) {
      case 'create':
        return this.create(run, resources, signal);
      case 'configure':
        return this.configure(run, need(vm, action), action, wp, signal);
      case 'resize':
        return this.resize(run, need(vm, action), wp, signal);
      case 'restart':
        return this.restart(run, need(vm, action), signal);
      case 'redeploy':
        await this.destroy(run, need(vm, action), signal);
        run.rec.vmid = undefined;
        run.rec.node = undefined;
        run.rec.deployed = undefined;
        await run.persist();
        run.note('vm deleted for redeploy', action.reason);
        return;
      case 'delete':
        await this.destroy(run, need(vm, action), signal);
        run.log.info('vm deleted, record dropped', { vmid: run.rec.vmid });
        await run.drop();
        return;
      case 'orphan':
        await this.orphan(run, need(vm, action), signal);
        run.log.info('vm orphaned, record dropped', { vmid: run.rec.vmid });
        await run.drop();
        return;
      case 'forget':
        run.log.info('record dropped', { reason: action.reason });
        await run.drop();
        return;
      default:
        // wait, conflict, resume: nothing to do here (resume is handled before planning).
        return;
    }
  }

  /**
   * One mutating call: intent saved, call, UPID saved, bounded wait, intent cleared. A clone's
   * intent survives a transient failure (its fate is unknown: resume.ts looks for the VM).
   */
  async mutate(
    run: WorkerRun,
    op: Intent['op'],
    target: { node: string; vmid: number },
    slot: SlotRequest,
    call: () => Promise<TaskRef | void>,
    signal: AbortSignal,
    waitMs = TASK_WAIT_MS,
    keepIntent = false,
  ): Promise<void> {
    const release = await this.#acquire(slot, signal);
    try {
      run.rec.intent = { op, node: target.node, vmid: target.vmid, startedAt: isoNow(this.deps.clock) };
      await run.persist();
      await this.#call(run, op, call, signal, waitMs, keepIntent);
    } finally {
      release();
    }
  }

  /** Takes the slots of `slot`, learning whether its storage is shared when the caller did not say. */
  async #acquire(slot: SlotRequest, signal: AbortSignal): Promise<() => void> {
    const req =
      slot.storage !== undefined && slot.shared === undefined
        ? { ...slot, shared: await this.scopes.isShared(slot.node, slot.storage) }
        : slot;
    return this.slots.acquire(req, signal);
  }

  /**
   * The part of mutate() after the intent is on disk and the slots are held: call, UPID saved,
   * bounded wait, intent cleared (unless kept).
   */
  async #call(
    run: WorkerRun,
    op: Intent['op'],
    call: () => Promise<TaskRef | void>,
    signal: AbortSignal,
    waitMs: number,
    keepIntent: boolean,
  ): Promise<void> {
    let task: TaskRef | void;
    try {
      task = await call();
    } catch (err) {
      if (!(op === 'clone' && err instanceof TransientError)) {
        run.rec.intent = undefined;
        await run.persist();
      }
      throw err;
    }
    await this.hooks.afterCall?.(op, run.name, task ?? undefined);
    if (task) {
      run.rec.intent = { ...run.rec.intent!, upid: task.upid };
      // The UPID only spares resume.ts a lookup (the intent is already on disk): its write runs
      // while the task does, instead of delaying the wait by one file write.
      await Promise.all([run.persist(), this.waitTask(run, task, signal, waitMs)]);
    }
    if (!keepIntent) {
      // Not awaited: a stale intent is harmless (resume follows the ended task or drops it), and the
      // next intent's durable write carries this change with it (writes go out in order).
      run.rec.intent = undefined;
      run.persist().catch((err: unknown) => run.log.warn('clearing an intent not written yet', { err }));
    }
  }

  /** Waits for a task; a failed task clears the intent (the error is rethrown). */
  async waitTask(run: WorkerRun, task: TaskRef, signal: AbortSignal, waitMs: number): Promise<void> {
    try {
      await this.deps.client.waitForTask(task, { signal, timeoutMs: waitMs });
    } catch (err) {
      if (err instanceof TaskFailedError) {
        run.rec.intent = undefined;
        await run.persist();
      }
      throw err;
    }
  }

  async create(run: WorkerRun, resources: readonly VmResource[], signal: AbortSignal): Promise<void> {
    const { client } = this.deps;
    const spec = run.rec.spec;
    const tpl = findTemplate(resources, spec);
    const storages = await client.storages(spec.host, { content: 'images' });
    this.scopes.learn(spec.host, storages);
    const target = storages.find((s) => s.storage === spec.storage);
    if (!target) {
      throw new TerminalError(`storage ${spec.storage} does not exist on ${spec.host} or holds no vm images`);
    }
    if (tpl.node !== spec.host) await this.#checkSharedTemplate(tpl, spec.host);
    const description = desiredDescription(spec, run.rec.uid ?? run.name);
    for (let attempt = 0; ; attempt++) {
      const cause = run.history.length === 0 ? causeOf(run.rec) : 'redeploy';
      let vmid: number | undefined;
      try {
        // Slots first, then the vmid: the reservation and the clone intent go to disk in ONE
        // durable write right before the call (invariant 4), and the intent's start time is the
        // call's, not the time spent queueing for a slot (resume.ts judges a lost clone by it).
        const release = await this.#acquire(
          { node: spec.host, storage: spec.storage, clone: true, shared: target.shared },
          signal,
        );
        try {
          // A VM named like the worker may have appeared since the pass's listing (invariant 3).
          await assertNameFree(client, run.rec, () => recordedVmids(run));
          vmid = await this.allocator.allocate(async (id) => {
            run.rec.vmid = id;
            run.rec.node = spec.host;
            run.rec.intent = { op: 'clone', node: spec.host, vmid: id, startedAt: isoNow(this.deps.clock) };
            await run.persist();
          }, run.rec.vmid);
          const newid = vmid;
          await this.#call(
            run,
            'clone',
            () =>
              client.clone(tpl.node, tpl.vmid, {
                newid,
                name: spec.name,
                description,
                full: true,
                storage: spec.storage,
                ...(tpl.node !== spec.host ? { target: spec.host } : {}),
              }),
            signal,
            CLONE_WAIT_MS,
            true,
          );
        } finally {
          release();
        }
      } catch (err) {
        if (vmid === undefined) {
          // The reservation's write failed (or the wait for a slot was aborted): no call was made.
          if (run.rec.intent?.op === 'clone' && !run.rec.intent.upid) run.rec.intent = undefined;
          throw err;
        }
        if (err instanceof AlreadyExistsError && attempt < 3) {
          // Someone took the id between our assert and the clone: allocate again.
          run.log.info('vmid taken before the clone, allocating again', { vmid });
          run.rec.vmid = undefined;
          await run.persist();
          continue;
        }
        if (err instanceof TaskFailedError) await this.cleanupFailedClone(run, vmid, signal);
        throw err;
      }
      await this.finishClone(run, vmid, signal);
      run.log.info('vm cloned', { vmid, node: spec.host, template: tpl.vmid });
      run.note('cloned', `${cause}: from ${spec.template} to ${spec.storage} on ${spec.host} as vm ${vmid}`);
      return;
    }
  }

  /**
   * A template on another node can only be cloned there (clone `target`) when all its disks are on
   * shared storage; otherwise PVE refuses ("VM uses local storage"), which no retry fixes.
   */
  async #checkSharedTemplate(tpl: VmResource, host: string): Promise<void> {
    const { client } = this.deps;
    const cfg = await client.getConfig(tpl.node, tpl.vmid);
    const shared = new Set((await client.storages(tpl.node)).filter((s) => s.shared).map((s) => s.storage));
    const local = Object.entries(cfg.values)
      .filter(
        ([k, v]) =>
          /^(scsi|virtio|sata|ide|efidisk|tpmstate)\d+$/.test(k) && v !== 'none' && !/^none,/.test(v),
      )
      .map(([, v]) => diskStorage(v))
      .filter((st): st is string => st !== undefined && !shared.has(st));
    if (local.length > 0) {
      throw new TerminalError(
        `template ${tpl.vmid} is on ${tpl.node} with disks on local storage (${[...new Set(local)].join(', ')}); ` +
          `it cannot be cloned to ${host}: put a copy of the template on ${host} or on shared storage`,
      );
    }
  }

  /**
   * The last step of a clone, still under the clone intent: put our owner tag on the new VM (after
   * checking our marker), record what it was cloned from, clear the intent. Idempotent, so resume.ts
   * can run it again after a crash at any point.
   */
  async finishClone(run: WorkerRun, vmid: number, signal: AbortSignal): Promise<void> {
    const { client, settings } = this.deps;
    const spec = run.rec.spec;
    const node = run.rec.node ?? spec.host;
    const release = await this.slots.acquire({ node }, signal);
    try {
      const cfg = await client.getConfig(node, vmid);
      if (!markerMatches(run.rec, cfg.values)) {
        throw new ConflictError(`vm ${vmid} does not carry our marker after the clone; leaving it alone`);
      }
      const tags = desiredTags(settings.ownerTag);
      if (normalizeTags(cfg.values.tags ?? '') !== normalizeTags(tags)) {
        await client.updateConfig(node, vmid, { set: { tags }, digest: cfg.digest });
      }
    } finally {
      release();
    }
    run.rec.deployed = { template: spec.template, storage: spec.storage, host: spec.host };
    run.rec.intent = undefined;
    await run.persist();
  }

  /**
   * After a failed clone: PVE normally removes what it created; if a VM with our marker is left at
   * the vmid, delete it (unlocking it first). When that fails too, the reservation stays and the
   * next plan sees the half clone (ownership 'half') and removes it before cloning again.
   */
  async cleanupFailedClone(run: WorkerRun, vmid: number, signal: AbortSignal): Promise<void> {
    const node = run.rec.node ?? run.rec.spec.host;
    run.rec.intent = undefined;
    await run.persist();
    try {
      const vm = (await this.deps.client.vmResources()).find((r) => r.vmid === vmid);
      if (vm) {
        await this.destroy(run, vm, signal);
        run.note('half-cloned vm deleted', `clone of vm ${vmid} failed`);
      }
    } catch (err) {
      if (!(err instanceof NotFoundError)) {
        run.log.warn('cleanup of a failed clone failed; will retry', { vmid, node, err });
        return;
      }
    }
    run.rec.vmid = undefined;
    run.rec.node = undefined;
    await run.persist();
  }

  async configure(
    run: WorkerRun,
    vm: VmResource,
    action: PlannedAction,
    wp: WorkerPlan,
    signal: AbortSignal,
  ): Promise<void> {
    const { client } = this.deps;
    const keys = action.changes.map((c) => c.field);
    const before = await client.getConfig(vm.node, vm.vmid);
    const body = buildConfigChange(wp.desired, before.values, keys);
    if (Object.keys(body.set).length === 0 && body.delete.length === 0) return;
    await this.mutate(
      run,
      'configure',
      vm,
      { node: vm.node },
      () =>
        client.updateConfig(vm.node, vm.vmid, {
          set: body.set,
          ...(body.delete.length ? { delete: body.delete } : {}),
          digest: before.digest,
        }),
      signal,
    );
    // Read back: PVE normalises what it stores; what we compare must be what we meant.
    const after = await client.getConfig(vm.node, vm.vmid);
    const wanted = Object.fromEntries(keys.map((k) => [k, wp.desired[k]]));
    const left = diffConfig(wanted, after.values, false);
    if (left.length > 0) {
      throw new TerminalError(`config of vm ${vm.vmid} reads back different: ${describeChanges(left)}`);
    }
    const cause = causeOf(run.rec);
    const what = describeChanges(action.changes);
    run.log.info('vm configured', { vmid: vm.vmid, keys });
    run.note('config updated', cause === 'drift' ? `drift: ${what} put back` : `${cause}: ${what}`);
  }

  async resize(run: WorkerRun, vm: VmResource, wp: WorkerPlan, signal: AbortSignal): Promise<void> {
    const spec = run.rec.spec;
    const disk = wp.diskKey ?? 'scsi0';
    await this.mutate(
      run,
      'resize',
      vm,
      { node: vm.node, storage: spec.storage },
      () => this.deps.client.resizeDisk(vm.node, vm.vmid, disk, `${spec.diskGiB}G`),
      signal,
    );
    run.log.info('disk resized', { vmid: vm.vmid, disk, sizeGiB: spec.diskGiB });
    run.note('disk resized', `${causeOf(run.rec)}: ${disk} to ${spec.diskGiB} GiB`);
  }

  /** Shutdown (forceStop after the timeout) and start: pending changes take effect at the boot. */
  async restart(run: WorkerRun, vm: VmResource, signal: AbortSignal): Promise<void> {
    await this.shutdown(run, vm, signal);
    await this.mutate(
      run,
      'start',
      vm,
      { node: vm.node },
      () => this.deps.client.start(vm.node, vm.vmid),
      signal,
    );
    run.log.info('vm restarted', { vmid: vm.vmid });
    run.note('restarted', `${causeOf(run.rec)}: apply pending changes`);
  }

  async shutdown(run: WorkerRun, vm: VmResource, signal: AbortSignal): Promise<void> {
    const timeout = this.deps.settings.shutdownTimeoutSec;
    await this.mutate(
      run,
      'shutdown',
      vm,
      { node: vm.node },
      () => this.deps.client.shutdown(vm.node, vm.vmid, { timeout, forceStop: true }),
      signal,
      timeout * 1000 + TASK_WAIT_MS,
    );
  }

  /**
   * Shut down and delete with purge and destroy-unreferenced-disks, after the three-way identity
   * check (owner tag, recorded vmid, marker). A VM that is already gone counts as deleted.
   */
  async destroy(run: WorkerRun, vm: VmResource, signal: AbortSignal): Promise<void> {
    const { client, settings } = this.deps;
    let cfg;
    try {
      cfg = await client.getConfig(vm.node, vm.vmid);
    } catch (err) {
      if (err instanceof NotFoundError) return;
      throw err;
    }
    const tags = normalizeTags(cfg.values.tags ?? '').split(';');
    // A half clone (never finished, so no tag yet) is ours by reserved vmid and marker alone.
    const half = run.rec.deployed === undefined && run.rec.intent === undefined;
    if (!markerMatches(run.rec, cfg.values) || !(half || tags.includes(settings.ownerTag.toLowerCase()))) {
      throw new ConflictError(`vm ${vm.vmid} does not carry our tag and marker; refusing to delete it`);
    }
    if (half && cfg.values.lock) {
      // The failed clone left its lock behind (qm unlock): the clone task is known to have ended.
      await this.mutate(
        run,
        'configure',
        vm,
        { node: vm.node },
        () => client.updateConfig(vm.node, vm.vmid, { set: {}, delete: ['lock'] }),
        signal,
      );
    }
    const st = await client.status(vm.node, vm.vmid);
    if (st.status !== 'stopped') await this.shutdown(run, vm, signal);
    try {
      await this.mutate(
        run,
        'delete',
        vm,
        { node: vm.node, storage: run.rec.deployed?.storage ?? run.rec.spec.storage },
        () => client.deleteVm(vm.node, vm.vmid, { purge: true, destroyUnreferencedDisks: true }),
        signal,
      );
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }

  /** Deletion policy Orphan: remove our tag and marker, keep the VM. */
  async orphan(run: WorkerRun, vm: VmResource, signal: AbortSignal): Promise<void> {
    const { client, settings } = this.deps;
    const cfg = await client.getConfig(vm.node, vm.vmid);
    const owner = settings.ownerTag.toLowerCase();
    const tags = normalizeTags(cfg.values.tags ?? '')
      .split(';')
      .filter((t) => t !== '' && t !== owner);
    const description = stripMarker(cfg.values.description ?? '');
    const set: Record<string, string> = {};
    const del: string[] = [];
    if (tags.length) set.tags = tags.join(';');
    else del.push('tags');
    if (description) set.description = description;
    else del.push('description');
    await this.mutate(
      run,
      'tag-remove',
      vm,
      { node: vm.node },
      () =>
        client.updateConfig(vm.node, vm.vmid, {
          set,
          ...(del.length ? { delete: del } : {}),
          digest: cfg.digest,
        }),
      signal,
    );
  }
}

/** The vmids our records hold. */
function recordedVmids(run: WorkerRun): Set<number> {
  return new Set(run.store.listWorkers().flatMap((r) => (r.vmid === undefined ? [] : [r.vmid])));
}

function need(vm: VmResource | undefined, action: PlannedAction): VmResource {
  if (!vm)
    throw new Error(`internal: ${action.kind} planned without a vm of ours (${errorMessage(action.reason)})`);
  return vm;
}
