/**
 * Waiting for PVE tasks per node, not per task: one GET /nodes/{node}/tasks?source=all&since=… serves
 * every task waited for on that node, running or ended. pve-manager PVE/API2/Tasks.pm node_tasks lists,
 * for source all, the node's `active` file without the entries already archived (status RUNNING), then
 * the task index (`/var/log/pve/tasks/index`, newest first) whose lines carry the end time and the exit
 * status; pve-common src/PVE/RESTEnvironment.pm fork_worker adds a task to the active file before it
 * returns the UPID, and active_workers archives it when it ended with `status` =
 * PVE::UPID::read_status, the same exit status read_task_status returns. So the listing alone says
 * when a task we started ended and how: its own status is read only when the listing does not show it
 * at all (cut by `limit`, or another node's index), its log only when it failed (tasks.ts settle).
 * `since` is the oldest waited task's start time (from its UPID), which keeps the listing short.
 *
 * Intervals are in server time (divided by the client's time scale): the first listing after
 * MIN_LIST_INTERVAL_MS (a task that fails at once is seen quickly), then from the start of the
 * bracket the node's last tasks of the type ended in (else any node's, else a typical figure), a
 * quarter of its width apart; past it the looks grow apart as the task overruns. Never more often than once per MIN_LIST_INTERVAL_MS per node and never less
 * than once per `nodeMaxMs` while a task waits. A 596 or a dropped connection says the node is busy:
 * the waits ride it out until their deadlines.
 */
import type { Clock } from '../clock.js';
import { NotFoundError, TransientError, WaitTimeoutError } from '../errors.js';
import { stoppedStatus } from './codec.js';
import { MAX_NOT_FOUND, settle, type TaskWaitDeps } from './tasks.js';
import type { TaskRef, TaskStatus, TaskSummary, WaitOptions } from './types.js';
import { parseUpid } from './upid.js';

/** Never list a node's tasks more often than this (server ms). */
export const MIN_LIST_INTERVAL_MS = 1000;

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
 * What a task is expected to take (server ms): it ends after `lo` and by `hi`. A typical figure is
 * a point (lo = hi); an observed task gives the bracket between the last look that saw it running
 * and the first that saw it ended.
 */
export interface Expectation {
  lo: number;
  hi: number;
  /** A typical figure, not what a task was seen to take. */
  guess?: boolean;
}

/** Tasks whose brackets make the next expectation: a few, so that it follows a change of pace. */
export const LEARN_FROM = 3;
/** A bracket this narrow (server ms) always counts in the expectation. */
export const INFORMATIVE_MS = 4000;

/**
 * The delay until the next look at a task that has run `elapsedMs` (server ms): before the expected
 * bracket, at its start (in the first quarter of a typical figure, threefold steps); within it, a quarter of its width apart (at least minMs: a task is seen
 * within a second of its end when the bracket is narrow); past it, as long again as the task has
 * overrun (the looks double their spacing, so an overrun of o is seen within o), or a quarter of
 * its time when the expectation was only a guess; at most maxMs.
 */
export function nextLookDelay(
  elapsedMs: number,
  expected: Expectation,
  minMs: number,
  maxMs: number,
): number {
  let d: number;
  // In the first quarter of a guess the spacing grows threefold (1, 3, 9 s under a 30 s figure): a
  // task far quicker than the typical figure (a linked clone of seconds, the first after a restart)
  // is seen within three times its own time, for two looks more than going straight to the figure.
  if (expected.guess && elapsedMs < expected.lo / 4)
    d = Math.min(expected.lo - elapsedMs, Math.max(minMs, 2 * elapsedMs));
  else if (elapsedMs < expected.lo - minMs / 2) d = expected.lo - elapsedMs;
  else if (elapsedMs < expected.hi) d = Math.min((expected.hi - expected.lo) / 4, expected.hi - elapsedMs);
  // Past a guess, the task's own time is the better scale (a quarter of it): a guess can be far off.
  else d = Math.max(elapsedMs - expected.hi, expected.guess ? elapsedMs / 4 : 0);
  return Math.min(maxMs, Math.max(minMs, d));
}

/**
 * The expectation the last tasks' brackets give: the span of those that say something (no wider
 * than twice the narrowest, or INFORMATIVE_MS): durations vary from task to task, and a bracket from
 * looks far apart (a first task, a poor guess) says little once a narrower one is known. It starts
 * one narrow bracket early: a task a little quicker than the last ones is seen on time too, and
 * then teaches the next.
 */
export function expectationOf(seen: readonly Expectation[]): Expectation | undefined {
  if (seen.length === 0) return undefined;
  const narrowest = Math.min(...seen.map((e) => e.hi - e.lo));
  const useful = seen.filter((e) => e.hi - e.lo <= Math.max(INFORMATIVE_MS, 2 * narrowest));
  const early = narrowest <= INFORMATIVE_MS ? Math.max(narrowest, MIN_LIST_INTERVAL_MS) : 0;
  return {
    lo: Math.max(0, Math.min(...useful.map((e) => e.lo)) - early),
    hi: Math.max(...useful.map((e) => e.hi)),
  };
}

export interface NodeTaskWatchDeps extends Pick<TaskWaitDeps, 'log'> {
  /** GET /nodes/{node}/tasks?source=all&since=…: running tasks and the index since then. */
  list(node: string, since: number | undefined): Promise<TaskSummary[]>;
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
  /** The task's start time from its UPID (epoch s), if it parses. */
  startEpoch: number | undefined;
  /** Clock ms when the wait began. */
  startedAt: number;
  expected: Expectation;
  /** Elapsed server ms at the last look that saw the task running. */
  seenRunning: number;
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
  /** What the last tasks of a type took on a node (`node type`), and anywhere (`type`), in server ms. */
  readonly #took = new Map<string, Expectation[]>();

  constructor(private readonly deps: NodeTaskWatchDeps) {}

  /** Resolves with the task's status once it stopped successfully (see tasks.ts waitForTask). */
  wait(task: TaskRef, opts: WaitOptions = {}): Promise<TaskStatus> {
    const { clock } = this.deps;
    opts.signal?.throwIfAborted();
    const now = clock.now();
    const parsed = parseUpid(task.upid);
    const type = parsed?.type ?? '';
    const typical = TYPICAL_MS[type] ?? TYPICAL_DEFAULT_MS;
    return new Promise<TaskStatus>((resolve, reject) => {
      const n = this.#node(task.node);
      const onAbort = () => w.settle({ err: opts.signal?.reason });
      const w: Waiter = {
        task,
        type,
        startEpoch: parsed?.startTime,
        startedAt: now,
        expected: expectationOf(this.#took.get(`${task.node} ${type}`) ?? this.#took.get(type) ?? []) ?? {
          lo: typical,
          hi: typical,
          guess: true,
        },
        seenRunning: 0,
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

  #elapsed(w: Waiter, now: number): number {
    return (now - w.startedAt) * this.deps.timeScale;
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

  /** One listing of the node; the waits it shows ended settle, the ones it misses read their status. */
  async #look(node: string, n: NodeWatch, now: number): Promise<void> {
    const { clock } = this.deps;
    // Only waits that began before the listing was asked for: a later one's task may not be in it.
    const due = [...n.waiters];
    n.lastList = now;
    const starts = due.map((w) => w.startEpoch);
    // A UPID that does not parse gives no start: list without `since` then.
    const since = starts.every((s) => s !== undefined) ? Math.min(...starts) : undefined;
    let listed: TaskSummary[];
    try {
      listed = await this.deps.list(node, since);
    } catch (err) {
      // A busy node: look less often.
      if (err instanceof TransientError) {
        for (const w of due) w.dueAt = Math.max(w.dueAt, clock.now() + this.#real(this.deps.maxMs));
        return;
      }
      for (const w of due) w.settle({ err });
      return;
    }
    const byUpid = new Map(listed.map((t) => [t.upid, t]));
    const after = clock.now();
    const missing: Waiter[] = [];
    const ended: Array<Promise<void>> = [];
    for (const w of due) {
      const t = byUpid.get(w.task.upid);
      if (t?.running) {
        w.seenRunning = this.#elapsed(w, now);
        w.dueAt = after + this.#real(this.#delay(w, after));
      } else if (t) ended.push(this.#settle(w, stoppedStatus(t), now));
      else missing.push(w);
    }
    await Promise.all([...ended, ...missing.map((w) => this.#ended(w, now))]);
  }

  #delay(w: Waiter, now: number): number {
    return nextLookDelay(this.#elapsed(w, now), w.expected, MIN_LIST_INTERVAL_MS, this.deps.maxMs);
  }

  /** The listing does not show the task: its own status says whether it ended. */
  async #ended(w: Waiter, lookedAt: number): Promise<void> {
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
      w.seenRunning = this.#elapsed(w, lookedAt);
      w.dueAt = clock.now() + this.#real(this.#delay(w, clock.now()));
      return;
    }
    await this.#settle(w, status, lookedAt);
  }

  /** A task seen ended at `lookedAt`: what it took teaches the next wait; its outcome settles this one. */
  async #settle(w: Waiter, status: TaskStatus, lookedAt: number): Promise<void> {
    const seen = { lo: w.seenRunning, hi: Math.max(w.seenRunning, this.#elapsed(w, lookedAt)) };
    const key = `${w.task.node} ${w.type}`;
    // Another node's first task of the type: what one took anywhere beats a typical figure.
    for (const k of [key, w.type])
      this.#took.set(k, [seen, ...(this.#took.get(k) ?? [])].slice(0, LEARN_FROM));
    try {
      w.settle({ ok: await settle(this.deps, w.task, status) });
    } catch (err) {
      w.settle({ err });
    }
  }
}
