/**
 * Removing a worker's VM: delete (with purge and its disks) after the three-way identity check
 * (owner tag, recorded vmid, marker: invariant 3), or, for deletionPolicy Orphan, remove our tag
 * and marker and keep the VM.
 */
import { ConflictError, DeadLockError, NotFoundError } from '../../errors.js';
import type { VmResource } from '../../proxmox/types.js';
import type { WorkerRecord } from '../../types.js';
import { stripMarker } from '../desired-config.js';
import { normalizeTags } from '../normalize.js';
import { isCloneTemporary, markerMatches } from '../ownership.js';
import type { WorkerRun } from '../worker-run.js';
import type { Mutations } from './mutation.js';
import { shutdownVm } from './power.js';

export interface RemoveOptions {
  vm: Pick<VmResource, 'node' | 'vmid'>;
  signal: AbortSignal;
}

/**
 * Shuts the VM down and deletes it; a VM that is already gone counts as deleted. A half clone of
 * ours (its clone never finished, so no owner tag) is deleted as it is, locked or not: with a lock
 * only when the controller may skip it (root@pam: `skiplock`), else LockedError with the fix.
 */
export async function destroyVm(m: Mutations, run: WorkerRun, { vm, signal }: RemoveOptions): Promise<void> {
  const { client, settings } = m.deps;
  let cfg;
  try {
    cfg = await client.getConfig(vm.node, vm.vmid);
  } catch (err) {
    if (err instanceof NotFoundError) return;
    throw err;
  }
  const tags = normalizeTags(cfg.values.tags ?? '').split(';');
  const half = isHalfClone(run.rec, vm.vmid);
  const ours =
    half && run.rec.leftover?.vmid === vm.vmid
      ? markerMatches(run.rec, cfg.values) || isCloneTemporary(cfg.values)
      : markerMatches(run.rec, cfg.values) && (half || tags.includes(settings.ownerTag.toLowerCase()));
  if (!ours) {
    throw new ConflictError(`vm ${vm.vmid} does not carry our tag and marker; refusing to delete it`);
  }
  const lock = cfg.values.lock;
  const skiplock = lock !== undefined && half && settings.skiplock;
  if (lock !== undefined && !skiplock) throw lockedByDeadTask(vm, lock);
  if (!half) {
    const st = await client.status(vm.node, vm.vmid);
    if (st.status !== 'stopped') await shutdownVm(m, run, { vm, signal });
  }
  try {
    await m.mutate(run, {
      op: 'delete',
      target: vm,
      slot: { node: vm.node, storage: run.rec.deployed?.storage ?? run.rec.spec.storage },
      call: () =>
        client.deleteVm(vm.node, vm.vmid, {
          purge: true,
          destroyUnreferencedDisks: true,
          ...(skiplock ? { skiplock: true } : {}),
        }),
      signal,
    });
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
  if (run.rec.leftover?.vmid === vm.vmid) run.rec.leftover = undefined;
}

/**
 * A VM of ours left locked by a task that is gone, unlocked with `skiplock` (root@pam only: qemu-server
 * PVE/API2/Qemu.pm update_vm_api; the plan offers it only then).
 */
export async function unlockVm(m: Mutations, run: WorkerRun, { vm, signal }: RemoveOptions): Promise<void> {
  const { client } = m.deps;
  await m.mutate(run, {
    op: 'unlock',
    target: vm,
    slot: { node: vm.node },
    call: () => client.updateConfig(vm.node, vm.vmid, { set: {}, delete: ['lock'], skiplock: true }),
    signal,
  });
  run.note('unlocked', `vm ${vm.vmid} was locked by a task that is gone (skiplock as root@pam)`);
}

/** The error of a VM whose lock no task holds: with the exact command that frees it. */
export function lockedByDeadTask(vm: { node: string; vmid: number }, lock: string): DeadLockError {
  return new DeadLockError(
    `vm ${vm.vmid} on ${vm.node} is locked (${lock}) by a task that is gone: run 'qm unlock ${vm.vmid}' on ${vm.node}`,
  );
}

/** A VM at `vmid` that a clone of ours left unfinished (never tagged, nothing in progress). */
export function isHalfClone(rec: WorkerRecord, vmid: number): boolean {
  if (rec.leftover?.vmid === vmid) return true;
  return rec.deployed === undefined && rec.intent === undefined && rec.deploy === undefined;
}

/** Deletion policy Orphan: remove our tag and marker, keep the VM. */
export async function orphanVm(m: Mutations, run: WorkerRun, { vm, signal }: RemoveOptions): Promise<void> {
  const { client, settings } = m.deps;
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
  await m.mutate(run, {
    op: 'tag-remove',
    target: vm,
    slot: { node: vm.node },
    call: () =>
      client.updateConfig(vm.node, vm.vmid, {
        set,
        ...(del.length ? { delete: del } : {}),
        digest: cfg.digest,
      }),
    signal,
  });
}
