/**
 * Waiting for PVE tasks per node, not per task: one GET /nodes/{node}/tasks?source=active serves
 * every task waited for on that node. pve-manager PVE/API2/Tasks.pm node_tasks lists, for source
 * active, the node's `active` file without the entries already archived (`saved`); pve-common
 * PVE/RESTEnvironment.pm fork_worker adds a task to that file (active_workers) before it returns the
 * UPID, and the worker reaper archives it (active_workers again, marking it saved) when it ends. So a
 * task we started that the list no longer shows has ended: only then is its own status read, once
 * (its exit status), and its log only when it failed (tasks.ts settle). A status that still says
 * running (the list is not complete: `limit`, a reaper not run yet) just waits for the next listing.
 *
 * Intervals are in server time (divided by the client's time scale): the first listing after
 * MIN_LIST_INTERVAL_MS (a task that fails at once is seen quickly), then backing off toward the
 * task's expected end, polling more closely near it and backing off again past it, never more often
 * than once per MIN_LIST_INTERVAL_MS per node and never less than once per `nodeMaxMs` while a task
 * waits. A 596 or a dropped connection says the node is busy: the waits ride it out until their
 * deadlines.
 */
import type { Clock } from '../clock.js';
import { NotFoundError, TransientError, WaitTimeoutError } from '../errors.js';
import { MAX_NOT_FOUND, settle, type TaskWaitDeps } from './tasks.js';
import type { TaskRef, TaskStatus, TaskSummary, WaitOptions } from './types.js';
import { parseUpid } from './upid.js';

/** Never list a node's tasks more often than this (server ms). */
export const MIN_LIST_INTERVAL_MS = 1000;
/** Looks at a task near its expected end this far apart (server ms). */
export const NEAR_END_MS = 2000;

/**
 * ASSUMPTION (no Proxmox source gives durations): typical run times per task type before a node has
 * shown what its own tasks take (server ms). Only the polling schedule depends on them.
 */
const TYPICAL_MS: Readonly<Record<string, number>> = {
  qmclone: 30_000,
  qmmove: 30_000,
  qmigrate: 30_000,
  qmcreate: 2_000,
  qmstart: 2_000,
  qmshutdown: 10_000,
  qmreboot: 10_000,
  qmstop: 1_000,
  qmdestroy: 3_000,
  qmresize: 1_000,
  qmconfig: 1_000,
};
const TYPICAL_DEFAULT_MS = 5_000;

/**
 * The delay until the next look at a task that has run `elapsedMs` of an expected `expectedMs`
 * (server ms): half the time left before the expected end, then, past it, as long as it has overrun;
 * never closer than NEAR_END_MS (or a quarter of a short expectation) nor, past it, farther than
 * half the expectation; within [minMs, maxMs].
 */
export function nextLookDelay(elapsedMs: number, expectedMs: number, minMs: number, maxMs: number): number {
  // Close to the expected end, looks NEAR_END_MS apart (a quarter of a short task): the next task
  // queued behind this one on the node starts no later than that after it ended.
  const near = Math.min(expectedMs / 4, NEAR_END_MS);
  const d =
    elapsedMs < expectedMs
      ? Math.max((expectedMs - elapsedMs) / 2, near)
      : Math.min(Math.max(elapsedMs - expectedMs, near), Math.max(near, expectedMs / 2));
  return Math.min(maxMs, Math.max(minMs, d));
}

export interface NodeTaskWatchDeps extends Pick<TaskWaitDeps, 'log'> {
  /** GET /nodes/{node}/tasks?source=active. */
  active(node: string): Promise<TaskSummary[]>;
  status(task: TaskRef): Promise<TaskStatus>;
  clock: Clock;
  /** Longest interval between two listings while a task waits (server ms). */
  maxMs: number;
  /** Server ms per real ms. */
  timeScale: number;
}

interface Waiter {
  task: TaskRef;
  type: string;
  /** Clock ms when the wait began. */
  startedAt: number;
  expectedMs: number;
  /** Clock ms of the next look. */
  dueAt: number;
  deadline: number;
  notFound: number;
  settle(result: { ok: TaskStatus } | { err: unknown }): void;
}

interface NodeWatch {
  waiters: Set<Waiter>;
  lastList: number;
  /** Wakes the node's loop early (a new waiter may be due before the loop's sleep ends). */
  wake?: AbortController;
  looping: boolean;
}

/** Per-node task waits of one client. */
export class NodeTaskWatch {
  readonly #nodes = new Map<string, NodeWatch>();
  /** What the last task of a type took on a node, and anywhere (server ms): the next one's expectation. */
  readonly #took = new Map<string, number>();

  constructor(private readonly deps: NodeTaskWatchDeps) {}

  /** Resolves with the task's status once it stopped successfully (see tasks.ts waitForTask). */
  wait(task: TaskRef, opts: WaitOptions = {}): Promise<TaskStatus> {
    const { clock } = this.deps;
    opts.signal?.throwIfAborted();
    const now = clock.now();
    const type = parseUpid(task.upid)?.type ?? '';
    return new Promise<TaskStatus>((resolve, reject) => {
      const n = this.#node(task.node);
      const onAbort = () => w.settle({ err: opts.signal?.reason });
      const w: Waiter = {
        task,
        type,
        startedAt: now,
        expectedMs:
          opts.expectedMs ??
          this.#took.get(`${task.node} ${type}`) ??
          this.#took.get(type) ??
          TYPICAL_MS[type] ??
          TYPICAL_DEFAULT_MS,
        dueAt: now + this.#real(MIN_LIST_INTERVAL_MS),
        deadline: opts.timeoutMs !== undefined ? now + opts.timeoutMs : Infinity,
        notFound: 0,
        settle: (r) => {
          if (!n.waiters.delete(w)) return;
          opts.signal?.removeEventListener('abort', onAbort);
          if ('ok' in r) resolve(r.ok);
          else reject(r.err);
        },
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      n.waiters.add(w);
      n.wake?.abort();
      if (!n.looping) void this.#loop(task.node, n);
    });
  }

  /** Tasks waited for now, per node (for tests and status). */
  waiting(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [node, n] of this.#nodes) if (n.waiters.size > 0) out[node] = n.waiters.size;
    return out;
  }

  #node(node: string): NodeWatch {
    let n = this.#nodes.get(node);
    if (!n) {
      n = { waiters: new Set(), lastList: -Infinity, looping: false };
      this.#nodes.set(node, n);
    }
    return n;
  }

  #real(serverMs: number): number {
    return serverMs / this.deps.timeScale;
  }

  async #loop(node: string, n: NodeWatch): Promise<void> {
    const { clock } = this.deps;
    n.looping = true;
    try {
      while (n.waiters.size > 0) {
        const now = clock.now();
        let next = Infinity;
        for (const w of n.waiters) {
          if (w.deadline <= now) {
            const ms = w.deadline - w.startedAt;
            w.settle({
              err: new WaitTimeoutError(
                `gave up waiting for task ${w.task.upid} after ${ms} ms; the task keeps running`,
              ),
            });
          } else next = Math.min(next, w.dueAt, w.deadline);
        }
        if (n.waiters.size === 0) break;
        const at = Math.max(next, n.lastList + this.#real(MIN_LIST_INTERVAL_MS));
        if (at > now) {
          n.wake = new AbortController();
          await clock.sleep(at - now, n.wake.signal).catch(() => undefined);
          n.wake = undefined;
          continue;
        }
        await this.#look(node, n, now);
      }
    } finally {
      n.looping = false;
    }
  }

  /** One listing of the node; the waits it shows ended read their status. */
  async #look(node: string, n: NodeWatch, now: number): Promise<void> {
    const { clock } = this.deps;
    // Only waits that began before the listing was asked for: a later one's task may not be in it.
    const due = [...n.waiters];
    n.lastList = now;
    let active: TaskSummary[];
    try {
      active = await this.deps.active(node);
    } catch (err) {
      // A busy node: look less often.
      if (err instanceof TransientError) {
        for (const w of due) w.dueAt = Math.max(w.dueAt, clock.now() + this.#real(this.deps.maxMs));
        return;
      }
      for (const w of due) w.settle({ err });
      return;
    }
    const running = new Set(active.filter((t) => t.running).map((t) => t.upid));
    const after = clock.now();
    const ended: Waiter[] = [];
    for (const w of due) {
      if (running.has(w.task.upid)) w.dueAt = after + this.#real(this.#delay(w, after));
      else ended.push(w);
    }
    await Promise.all(ended.map((w) => this.#ended(w)));
  }

  #delay(w: Waiter, now: number): number {
    const elapsed = (now - w.startedAt) * this.deps.timeScale;
    return nextLookDelay(elapsed, w.expectedMs, MIN_LIST_INTERVAL_MS, this.deps.maxMs);
  }

  /** The list no longer shows the task: its status, once; its log if it failed. */
  async #ended(w: Waiter): Promise<void> {
    const { clock } = this.deps;
    let status: TaskStatus;
    try {
      status = await this.deps.status(w.task);
    } catch (err) {
      const busy = err instanceof TransientError;
      if (busy || (err instanceof NotFoundError && ++w.notFound <= MAX_NOT_FOUND)) {
        w.dueAt = clock.now() + this.#real(busy ? this.deps.maxMs : MIN_LIST_INTERVAL_MS);
        return;
      }
      w.settle({ err });
      return;
    }
    w.notFound = 0;
    if (status.status !== 'stopped') {
      w.dueAt = clock.now() + this.#real(this.#delay(w, clock.now()));
      return;
    }
    const took = (clock.now() - w.startedAt) * this.deps.timeScale;
    this.#took.set(`${w.task.node} ${w.type}`, took);
    // Another node's first task of the type: what one took anywhere beats a typical figure.
    this.#took.set(w.type, took);
    try {
      w.settle({ ok: await settle(this.deps, w.task, status) });
    } catch (err) {
      w.settle({ err });
    }
  }
}
