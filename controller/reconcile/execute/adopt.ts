/**
 * Adopting a VM (`workerctl adopt`, reconcile/takeover.ts decides whether it may): the record names
 * the VM (vmid, node, what it counts as deployed from) before anything is written to it, then the
 * owner tag and the marker are written under an intent (invariant 4) and read back. From then on the
 * VM is the worker's by all three facts (reconcile/ownership.ts) and the usual converge takes over.
 * A crash before the write leaves a record whose VM lacks the tag: a conflict, touched by nothing,
 * until adopt runs again.
 */
import { ConflictError, TerminalError } from '../../errors.js';
import type { VmResource } from '../../proxmox/types.js';
import { parseMarker } from '../desired-config.js';
import { normalizeTags } from '../normalize.js';
import { markerMatches } from '../ownership.js';
import { adoptionMarks, deployedOf } from '../takeover.js';
import type { WorkerRun } from '../worker-run.js';
import type { Mutations } from './mutation.js';

export async function adoptVm(
  m: Mutations,
  run: WorkerRun,
  opts: { vm: VmResource; signal: AbortSignal },
): Promise<void> {
  const { client, settings } = m.deps;
  const { vm, signal } = opts;
  const cfg = await client.getConfig(vm.node, vm.vmid);
  const marker = parseMarker(cfg.values.description);
  if (marker && marker.worker !== run.name)
    throw new ConflictError(`vm ${vm.vmid} carries the marker of worker ${marker.worker}; not adopting it`);
  const uid = run.rec.uid;
  if (!uid) throw new TerminalError(`worker ${run.name} has no record uid`);
  run.rec.vmid = vm.vmid;
  run.rec.node = vm.node;
  run.rec.deployed = deployedOf(run.rec.spec, vm, cfg.values);
  await run.persist();
  const marks = adoptionMarks(cfg.values, run.name, uid, settings.ownerTag);
  await m.mutate(run, {
    op: 'configure',
    target: vm,
    slot: { node: vm.node },
    call: () => client.updateConfig(vm.node, vm.vmid, { set: marks, digest: cfg.digest }),
    signal,
  });
  const after = await client.getConfig(vm.node, vm.vmid);
  const tags = normalizeTags(after.values.tags ?? '').split(';');
  if (!tags.includes(settings.ownerTag.toLowerCase()) || !markerMatches(run.rec, after.values))
    throw new TerminalError(`vm ${vm.vmid} does not read back our tag and marker after adoption`);
  run.log.info('vm adopted', { vmid: vm.vmid, node: vm.node });
  run.note('adopted', `vm ${vm.vmid} on ${vm.node}, taken over by workerctl adopt`);
  run.flushHistory();
}
