/**
 * Power: start, shutdown (graceful, forced after the timeout) and restart (the `restart` action:
 * pending changes take effect at the boot). The lifecycle powers workers on and off for tests and
 * sessions through powerVm, with the same slots, intent and UPID as every other mutation.
 */
import type { PowerOp, VmLocation } from '../contracts.js';
import { causeOf } from '../plan.js';
import type { WorkerRun } from '../worker-run.js';
import { TASK_WAIT_MS, type Mutations } from './mutation.js';

export interface PowerOptions {
  vm: VmLocation;
  signal: AbortSignal;
}

export async function startVm(m: Mutations, run: WorkerRun, { vm, signal }: PowerOptions): Promise<void> {
  await m.mutate(run, {
    op: 'start',
    target: vm,
    slot: { node: vm.node },
    call: () => m.deps.client.start(vm.node, vm.vmid),
    signal,
  });
}

export async function shutdownVm(m: Mutations, run: WorkerRun, { vm, signal }: PowerOptions): Promise<void> {
  const timeout = m.deps.settings.shutdownTimeoutSec;
  await m.mutate(run, {
    op: 'shutdown',
    target: vm,
    slot: { node: vm.node },
    call: () => m.deps.client.shutdown(vm.node, vm.vmid, { timeout, forceStop: true }),
    signal,
    waitMs: timeout * 1000 + TASK_WAIT_MS,
  });
}

/** Shutdown and start: pending changes take effect at the boot. */
export async function restartVm(m: Mutations, run: WorkerRun, opts: PowerOptions): Promise<void> {
  await shutdownVm(m, run, opts);
  await startVm(m, run, opts);
  run.log.info('vm restarted', { vmid: opts.vm.vmid });
  run.note('restarted', `${causeOf(run.rec)}: apply pending changes`);
}

/**
 * Powers the VM on (start) or off (shutdown) unless it already is; resolves true when it acted.
 * The state is read right before (the listing's may be seconds old).
 */
export async function powerVm(
  m: Mutations,
  run: WorkerRun,
  opts: PowerOptions & { op: PowerOp },
): Promise<boolean> {
  const st = await m.deps.client.status(opts.vm.node, opts.vm.vmid);
  if (opts.op === 'start') {
    if (st.status === 'running') return false;
    await startVm(m, run, opts);
  } else {
    if (st.status === 'stopped') return false;
    await shutdownVm(m, run, opts);
  }
  return true;
}
