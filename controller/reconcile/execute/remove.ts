/**
 * Removing a worker's VM: delete (with purge and its disks) after the three-way identity check
 * (owner tag, recorded vmid, marker: invariant 3), or, for deletionPolicy Orphan, remove our tag
 * and marker and keep the VM.
 */
import { ConflictError, NotFoundError } from '../../errors.js';
import type { VmResource } from '../../proxmox/types.js';
import { stripMarker } from '../desired-config.js';
import { normalizeTags } from '../normalize.js';
import { markerMatches } from '../ownership.js';
import type { WorkerRun } from '../worker-run.js';
import type { Mutations } from './mutation.js';
import { shutdownVm } from './power.js';

export interface RemoveOptions {
  vm: VmResource;
  signal: AbortSignal;
}

/** Shuts the VM down and deletes it; a VM that is already gone counts as deleted. */
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
  // A half clone (never finished, so no tag yet) is ours by reserved vmid and marker alone.
  const half = run.rec.deployed === undefined && run.rec.intent === undefined;
  if (!markerMatches(run.rec, cfg.values) || !(half || tags.includes(settings.ownerTag.toLowerCase()))) {
    throw new ConflictError(`vm ${vm.vmid} does not carry our tag and marker; refusing to delete it`);
  }
  if (half && cfg.values.lock) {
    // The failed clone left its lock behind (qm unlock): the clone task is known to have ended.
    await m.mutate(run, {
      op: 'configure',
      target: vm,
      slot: { node: vm.node },
      call: () => client.updateConfig(vm.node, vm.vmid, { set: {}, delete: ['lock'] }),
      signal,
    });
  }
  const st = await client.status(vm.node, vm.vmid);
  if (st.status !== 'stopped') await shutdownVm(m, run, { vm, signal });
  try {
    await m.mutate(run, {
      op: 'delete',
      target: vm,
      slot: { node: vm.node, storage: run.rec.deployed?.storage ?? run.rec.spec.storage },
      call: () => client.deleteVm(vm.node, vm.vmid, { purge: true, destroyUnreferencedDisks: true }),
      signal,
    });
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
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
