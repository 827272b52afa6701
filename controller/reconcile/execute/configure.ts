/**
 * Writing the config keys a plan changes (the `configure` action), then reading them back: PVE
 * normalises what it stores, and what the next plan compares must be what we meant.
 */
import { TerminalError } from '../../errors.js';
import type { VmResource } from '../../proxmox/types.js';
import type { PlannedAction } from '../contracts.js';
import { buildConfigChange, diffConfig } from '../diff.js';
import { causeOf, describeChanges, type WorkerPlan } from '../plan.js';
import type { WorkerRun } from '../worker-run.js';
import type { Mutations } from './mutation.js';

export interface ConfigureOptions {
  vm: VmResource;
  action: PlannedAction;
  plan: WorkerPlan;
  signal: AbortSignal;
}

export async function configureVm(m: Mutations, run: WorkerRun, opts: ConfigureOptions): Promise<void> {
  const { client } = m.deps;
  const { vm, action, plan, signal } = opts;
  const keys = action.changes.map((c) => c.field);
  const before = await client.getConfig(vm.node, vm.vmid);
  const body = buildConfigChange(plan.desired, before.values, keys);
  if (Object.keys(body.set).length === 0 && body.delete.length === 0) return;
  await m.mutate(run, {
    op: 'configure',
    target: vm,
    slot: { node: vm.node },
    call: () =>
      client.updateConfig(vm.node, vm.vmid, {
        set: body.set,
        ...(body.delete.length ? { delete: body.delete } : {}),
        digest: before.digest,
      }),
    signal,
  });
  const after = await client.getConfig(vm.node, vm.vmid);
  const wanted = Object.fromEntries(keys.map((k) => [k, plan.desired[k]]));
  const left = diffConfig(wanted, after.values, false);
  if (left.length > 0) {
    throw new TerminalError(`config of vm ${vm.vmid} reads back different: ${describeChanges(left)}`);
  }
  const cause = causeOf(run.rec);
  const what = describeChanges(action.changes);
  run.log.info('vm configured', { vmid: vm.vmid, keys });
  run.note('config updated', cause === 'drift' ? `drift: ${what} put back` : `${cause}: ${what}`);
}
