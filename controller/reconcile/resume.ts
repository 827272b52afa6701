/**
 * Finishing an intent found in a worker's record (a task still in flight, or a controller that
 * crashed mid-call), before anything is planned (invariant 4):
 * - with a UPID: follow that task; a clone that succeeded is finished (tag, record), a failed one
 *   is cleaned up and reported;
 * - a clone without a UPID (the crash came right after the call): look the VM up at the reserved
 *   vmid; when it is there and carries our marker it is ours: wait for its clone lock to go, then
 *   finish it; never clone a second VM. When nothing is there, the clone never happened: the
 *   intent is dropped and the next plan clones again with the same reserved vmid. When a foreign VM
 *   is there, the reservation is dropped (that VM is left alone);
 * - any other op without a UPID: dropped; the plan is level-triggered and redoes what is missing.
 */
import { NotFoundError, TaskFailedError, ApiValidationError } from '../errors.js';
import { taskRef } from '../proxmox/upid.js';
import { CLONE_ABANDON_MS, CLONE_WAIT_MS, TASK_WAIT_MS, type Executor } from './execute/executor.js';
import { markerMatches } from './ownership.js';
import type { ProxmoxClient } from '../proxmox/client.js';
import type { WorkerRun } from './worker-run.js';

/** Come back this soon while a clone we cannot follow by UPID still holds its lock. */
export const CLONE_LOCK_POLL_MS = 2_000;

/** Resolves with a requeue when the intent is still in flight, or undefined once it is finished. */
export async function resumeIntent(
  run: WorkerRun,
  client: ProxmoxClient,
  executor: Executor,
  signal: AbortSignal,
  now: number,
): Promise<{ requeueAfterMs: number } | undefined> {
  const intent = run.rec.intent;
  if (!intent) return undefined;
  run.log.info('resuming intent', { op: intent.op, vmid: intent.vmid, upid: intent.upid });
  if (intent.upid) {
    const task = taskRef(intent.upid, intent.node);
    try {
      await executor.waitTask(run, task, signal, intent.op === 'clone' ? CLONE_WAIT_MS : TASK_WAIT_MS);
    } catch (err) {
      if (err instanceof TaskFailedError) {
        run.note(`${intent.op} failed`, err.message);
        if (intent.op === 'clone') await executor.cleanupFailedClone(run, intent.vmid, signal);
        throw err;
      }
      // The node forgot the task (e.g. it rebooted): decide from what is there, as without a UPID.
      if (!(err instanceof NotFoundError || err instanceof ApiValidationError)) throw err;
      run.rec.intent = { ...intent, upid: undefined };
      return resumeIntent(run, client, executor, signal, now);
    }
    if (intent.op === 'clone') {
      await executor.finishClone(run, intent.vmid, signal);
      run.note('cloned', `resumed: clone task of vm ${intent.vmid} finished`);
    } else {
      run.rec.intent = undefined;
      await run.persist();
    }
    return undefined;
  }

  if (intent.op !== 'clone') {
    run.rec.intent = undefined;
    await run.persist();
    return undefined;
  }
  const vm = (await client.vmResources()).find((r) => r.vmid === intent.vmid);
  if (!vm) {
    run.log.info('clone never happened, cloning again with the reserved vmid', { vmid: intent.vmid });
    run.rec.intent = undefined;
    await run.persist();
    return undefined;
  }
  let ours = false;
  try {
    ours = markerMatches(run.rec, (await client.getConfig(vm.node, vm.vmid)).values);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
  if (!ours) {
    if (vm.lock === 'clone' && vm.name === undefined) return { requeueAfterMs: CLONE_LOCK_POLL_MS };
    run.log.warn('reserved vmid holds a foreign vm; allocating another', { vmid: vm.vmid });
    run.rec.intent = undefined;
    run.rec.vmid = undefined;
    run.rec.node = undefined;
    await run.persist();
    return undefined;
  }
  if (vm.lock === 'clone') {
    const age = now - Date.parse(intent.startedAt);
    if (!(age > CLONE_ABANDON_MS)) return { requeueAfterMs: CLONE_LOCK_POLL_MS };
    // Still locked long after any clone we would wait for: its task died (the lock stays behind).
    // Dropping the intent makes it a half clone, which the plan deletes (unlocking it) and clones
    // again. Should the clone still run after all, its flock makes the unlock fail and we retry.
    run.log.warn('clone without a task id still locked; treating it as failed', {
      vmid: vm.vmid,
      ageMs: age,
    });
    run.rec.intent = undefined;
    run.rec.node = vm.node;
    await run.persist();
    run.note('clone abandoned', `vm ${vm.vmid} still locked by a clone that has no task any more`);
    return undefined;
  }
  run.rec.node = vm.node;
  await executor.finishClone(run, vm.vmid, signal);
  run.note('cloned', `resumed after a crash: vm ${vm.vmid} found at the reserved vmid, no second clone`);
  return undefined;
}
