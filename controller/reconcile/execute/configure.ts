/**
 * Writing the config keys a plan changes (the `configure` action), then reading them back where PVE
 * may store a value differently from what was sent, as what the next plan compares must be what we
 * meant: property strings (qemu-server PVE/API2/Qemu.pm update_vm_api prints drives and NICs back
 * with print_drive/print_net), tags (pve-guest-common PVE/GuestHelpers.pm get_unique_tags sorts and
 * deduplicates them) and the description. A number or a plain word is stored as sent.
 */
import { TerminalError } from '../../errors.js';
import type { VmConfig, VmResource } from '../../proxmox/types.js';
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
  /**
   * The config the plan was made on (this pass's read, nothing written since): the write goes on it,
   * guarded by its digest, instead of reading it again.
   */
  config?: VmConfig;
}

export async function configureVm(m: Mutations, run: WorkerRun, opts: ConfigureOptions): Promise<void> {
  const { client } = m.deps;
  const { vm, action, plan, signal } = opts;
  const keys = action.changes.map((c) => c.field);
  // The digest guards the write either way: an edit made outside since the read refuses it
  // (ChecksumMismatchError), and the reconciler reads again and plans again.
  const before = opts.config?.digest ? opts.config : await client.getConfig(vm.node, vm.vmid);
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
  if (!Object.entries(body.set).some(([k, v]) => mayNormalise(k, v))) {
    done(run, action, vm.vmid, keys);
    return;
  }
  const after = await client.getConfig(vm.node, vm.vmid);
  const wanted = Object.fromEntries(keys.map((k) => [k, plan.desired[k]]));
  const left = diffConfig(wanted, after.values, false);
  if (left.length > 0) {
    throw new TerminalError(`config of vm ${vm.vmid} reads back different: ${describeChanges(left)}`);
  }
  done(run, action, vm.vmid, keys);
}

/** True when PVE may store `value` of `key` differently from how it was sent (see the file comment). */
export function mayNormalise(key: string, value: string | number | boolean): boolean {
  if (key === 'tags' || key === 'description') return true;
  return !/^[A-Za-z0-9._-]*$/.test(String(value));
}

function done(run: WorkerRun, action: PlannedAction, vmid: number, keys: string[]): void {
  const cause = causeOf(run.rec);
  const what = describeChanges(action.changes);
  run.log.info('vm configured', { vmid, keys });
  run.note('config updated', cause === 'drift' ? `drift: ${what} put back` : `${cause}: ${what}`);
}
