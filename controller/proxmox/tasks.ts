/**
 * Waiting for PVE tasks: poll GET …/tasks/{upid}/status (pve-manager PVE/API2/Tasks.pm
 * read_task_status) with growing delays until it stops; the exit status is pve-common
 * src/PVE/Tools.pm upid_read_status's.
 * OK and WARNINGS: n are success; anything else is TaskFailedError with the tail of the task log.
 * A wait that runs out of time is WaitTimeoutError: the task itself keeps running on the server.
 */
import type { Clock } from '../clock.js';
import { NotFoundError, TaskFailedError, TransientError, WaitTimeoutError } from '../errors.js';
import { redactText } from '../redact.js';
import { taskSaysVmMissing } from './error-mapping.js';
import type { TaskPollOptions } from './options.js';
import type { TaskLog, TaskRef, TaskStatus, WaitOptions } from './types.js';

export interface TaskWaitDeps {
  status(task: TaskRef, signal?: AbortSignal): Promise<TaskStatus>;
  log(task: TaskRef, opts: { start: number; limit: number }): Promise<TaskLog>;
  clock: Clock;
  poll: TaskPollOptions;
}

/** Lines of the task log carried by TaskFailedError. */
export const LOG_TAIL_LINES = 10;
/**
 * "No such task" answers in a row tolerated before giving up (a task that was just started can
 * briefly be unknown on a busy node). A 596 or a dropped connection is not counted: it says the
 * node's pvedaemon is busy, not that the task failed, so the wait rides it out until its deadline.
 */
export const MAX_NOT_FOUND = 3;

/** Polls until the task stops; resolves with its status on success. */
export async function waitForTask(
  deps: TaskWaitDeps,
  task: TaskRef,
  opts: WaitOptions = {},
): Promise<TaskStatus> {
  const { clock, poll } = deps;
  const deadline = opts.timeoutMs !== undefined ? clock.now() + opts.timeoutMs : Infinity;
  let delay = poll.initialMs;
  let notFound = 0;
  for (;;) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    let status: TaskStatus | undefined;
    try {
      status = await deps.status(task, opts.signal);
      notFound = 0;
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      const busy = err instanceof TransientError;
      if (!(busy || err instanceof NotFoundError) || (!busy && ++notFound > MAX_NOT_FOUND)) throw err;
      // A busy node: poll less often.
      if (busy) delay = Math.max(delay, poll.maxMs);
    }
    if (status?.status === 'stopped') return settle(deps, task, status);
    const left = deadline - clock.now();
    if (left <= 0) {
      throw new WaitTimeoutError(
        `gave up waiting for task ${task.upid} after ${opts.timeoutMs} ms; the task keeps running`,
      );
    }
    await clock.sleep(Math.min(delay, left), opts.signal);
    delay = Math.min(poll.maxMs, Math.max(1, delay * poll.factor));
  }
}

/**
 * The outcome of a stopped task: its status when it succeeded, else TaskFailedError with its log's
 * tail (NotFoundError when the task says the VM is not there: gone, not a failure).
 */
export async function settle(
  deps: Pick<TaskWaitDeps, 'log'>,
  task: TaskRef,
  status: TaskStatus,
): Promise<TaskStatus> {
  if (status.succeeded) return status;
  const failure = await taskFailure(deps, task, status);
  // The task looked for the VM only after it was forked.
  if (taskSaysVmMissing(failure.exitStatus)) throw new NotFoundError(failure.message, { cause: failure });
  throw failure;
}

/** The TaskFailedError for a stopped, failed task, with the last lines of its log. */
async function taskFailure(
  deps: Pick<TaskWaitDeps, 'log'>,
  task: TaskRef,
  status: TaskStatus,
): Promise<TaskFailedError> {
  const exit = status.exitStatus ?? 'unexpected status';
  let tail: string[] = [];
  try {
    const head = await deps.log(task, { start: 0, limit: 1 });
    const start = Math.max(0, head.total - LOG_TAIL_LINES);
    tail = (await deps.log(task, { start, limit: LOG_TAIL_LINES })).lines.map(redactText);
  } catch {
    // the exit status alone still says what failed
  }
  const what = [status.type, status.id].filter(Boolean).join(' ') || 'task';
  return new TaskFailedError(redactText(`proxmox task ${what} failed: ${exit}`), task.upid, exit, tail);
}
