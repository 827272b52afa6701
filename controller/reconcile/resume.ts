/**
 * Finishing an intent found in a worker's record (a task still in flight, or a controller that
 * crashed mid-call), before anything is planned (invariant 4). Recovery is by task, never by name:
 * - with a UPID: follow that task; when it succeeded its step is done (a clone's, a move's, a
 *   migration's: the deploy goes on in deploy.ts), when it failed a clone's leftover is recorded as
 *   ours by this intent (clone.ts cloneFailed) and the error goes to the queue;
 * - without one (the answer was lost, or the controller died before writing it): the node the call
 *   went to lists its tasks (task-search.ts). A clone task is ours when its log names our vmid, even
 *   while the new VM is only PVE's temporary config (no name, no marker, `lock: clone`) and the
 *   cluster listing does not show it yet. Found: follow it as above. Not found: the call never
 *   started a task, so what is at the reserved vmid decides: nothing (clone again, same vmid), our
 *   marker (a clone that finished), or someone else's VM (left alone, the reservation dropped);
 * - any other op without a UPID: dropped; the plan is level-triggered and redoes what is missing.
 */
import { ApiValidationError, NotFoundError, TaskFailedError } from '../errors.js';
import type { ProxmoxClient } from '../proxmox/client.js';
import { taskRef } from '../proxmox/upid.js';
import { CLONE_WAIT_MS, TASK_WAIT_MS, type Executor } from './execute/executor.js';
import { markerMatches } from './ownership.js';
import { findIntentTask, searchable } from './task-search.js';
import type { WorkerRun } from './worker-run.js';

/** Come back this soon while a task that may be ours has not said so yet. */
export const TASK_SEARCH_POLL_MS = 2_000;
/**
 * A running clone task names its new vmid within seconds (its config locks wait 1 s each); one that
 * has not after this long is not ours.
 */
export const TASK_SEARCH_PATIENCE_MS = 2 * 60_000;

/** Resolves with a requeue when the intent is still in flight, or undefined once it is settled. */
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
  let searched = false;
  if (!intent.upid && searchable(intent)) {
    searched = true;
    const found = await findIntentTask(client, intent);
    if (found.kind === 'found') {
      run.log.info('found the task of an intent in the node task list', { op: intent.op, upid: found.upid });
      run.rec.intent = { ...intent, upid: found.upid };
      await run.persist();
    } else if (found.kind === 'maybe' && now - Date.parse(intent.startedAt) < TASK_SEARCH_PATIENCE_MS) {
      return { requeueAfterMs: TASK_SEARCH_POLL_MS };
    }
  }
  const followed = run.rec.intent!;
  if (followed.upid) {
    const task = taskRef(followed.upid, followed.node);
    const wait = ['clone', 'move-disk', 'migrate'].includes(followed.op) ? CLONE_WAIT_MS : TASK_WAIT_MS;
    try {
      await executor.waitTask(run, task, signal, wait, true);
    } catch (err) {
      if (err instanceof TaskFailedError) {
        await executor.intentFailed(run, err);
        throw err;
      }
      // The node forgot the task (e.g. it rebooted): decide from what is there.
      if (!(err instanceof NotFoundError || err instanceof ApiValidationError)) throw err;
      run.rec.intent = { ...followed, upid: undefined };
      return settleWithoutTask(run, client, searched || !searchable(followed));
    }
    await executor.intentSucceeded(run);
    if (followed.op === 'clone') run.note('cloned', `resumed: clone task of vm ${followed.vmid} succeeded`);
    return undefined;
  }
  return settleWithoutTask(run, client, true);
}

/** An intent whose call started no task we can find (see the file comment). */
async function settleWithoutTask(
  run: WorkerRun,
  client: ProxmoxClient,
  searched: boolean,
): Promise<undefined> {
  const intent = run.rec.intent!;
  if (intent.op !== 'clone' || !searched) {
    run.rec.intent = undefined;
    await run.persist();
    return undefined;
  }
  const entry = (await client.vmResources()).find((r) => r.vmid === intent.vmid);
  let values: Record<string, string> | undefined;
  if (entry) {
    try {
      values = (await client.getConfig(entry.node, entry.vmid)).values;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }
  run.rec.intent = undefined;
  if (!entry || !values) {
    run.log.info('clone never happened, cloning again with the reserved vmid', { vmid: intent.vmid });
    run.rec.deploy = undefined;
    await run.persist();
    return undefined;
  }
  if (!markerMatches(run.rec, values)) {
    // No clone task of ours names this vmid: whatever is there is someone else's.
    run.log.warn('reserved vmid holds a foreign vm; allocating another', { vmid: intent.vmid });
    run.note('vmid taken', `vm ${intent.vmid} on ${entry.node} is not ours; it is left alone`);
    run.rec.deploy = undefined;
    run.rec.vmid = undefined;
    run.rec.node = undefined;
    await run.persist();
    return undefined;
  }
  run.rec.node = entry.node;
  if (values.lock) {
    // Our marker, locked, and no task holds it: a clone that died.
    run.rec.deploy = undefined;
    run.rec.leftover = { vmid: intent.vmid, node: entry.node, reason: 'no clone task holds its lock' };
    run.note('clone abandoned', `vm ${intent.vmid} on ${entry.node} is locked (${values.lock}) by no task`);
    await run.persist();
    return undefined;
  }
  // Finished, though its task is not listed any more: the deploy goes on from the clone's end.
  const steps = run.rec.deploy?.steps;
  if (steps?.[0] === 'clone') steps.shift();
  await run.persist();
  run.note('cloned', `resumed after a crash: vm ${intent.vmid} found at the reserved vmid, no second clone`);
  return undefined;
}
