/** Growing the main disk to the spec's size (the `resize` action; a shrink is refused by the plan). */
import type { VmResource } from '../../proxmox/types.js';
import { causeOf, type WorkerPlan } from '../plan.js';
import type { WorkerRun } from '../worker-run.js';
import type { Mutations } from './mutation.js';

export interface ResizeOptions {
  vm: VmResource;
  plan: WorkerPlan;
  signal: AbortSignal;
}

export async function resizeVm(m: Mutations, run: WorkerRun, opts: ResizeOptions): Promise<void> {
  const { vm, plan, signal } = opts;
  const spec = run.rec.spec;
  const disk = plan.diskKey ?? 'scsi0';
  await m.mutate(run, {
    op: 'resize',
    target: vm,
    slot: { node: vm.node, storage: spec.storage },
    call: () => m.deps.client.resizeDisk(vm.node, vm.vmid, disk, `${spec.diskGiB}G`),
    signal,
  });
  run.log.info('disk resized', { vmid: vm.vmid, disk, sizeGiB: spec.diskGiB });
  run.note('disk resized', `${causeOf(run.rec)}: ${disk} to ${spec.diskGiB} GiB`);
}
