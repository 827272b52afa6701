/**
 * Worker tasks with UPIDs (pve-common PVE/UPID.pm encode/decode, PVE/RESTEnvironment.pm fork_worker):
 * `UPID:node:pid:pstart:starttime:type:id:user:`, a log that ends
 * with TASK OK / TASK WARNINGS: n / TASK ERROR: msg, and exit statuses OK / WARNINGS: n / error text.
 */
import type { Latency } from './latency.js';
import { sleep } from './latency.js';

/** A task as /tasks/{upid}/status reports it, plus its log. */
export interface Task {
  upid: string;
  node: string;
  pid: number;
  pstart: number;
  starttime: number;
  type: string;
  id: string;
  user: string;
  status: 'running' | 'stopped';
  exitstatus?: string;
  log: string[];
  warnings: number;
  /** Real epoch ms at the end. */
  endedAt?: number;
  /** Resolves when the task has stopped. */
  done: Promise<void>;
  aborted: boolean;
}

interface TaskInternals {
  /** Resolves when the task is crashed, waking its sleeps (its process is gone). */
  abort: Promise<void>;
  fireAbort: () => void;
}

/** What a task body can do. */
export interface TaskContext {
  task: Task;
  log(line: string): void;
  /** A warning that counts toward WARNINGS: n (log_warn). */
  warn(line: string): void;
  /** Sleeps simulated ms (scaled, stretched by slowTask faults); throws if the task was crashed. */
  sleep(simMs: number): Promise<void>;
  /** Throws if the task was crashed meanwhile. */
  check(): void;
}

/** Thrown inside a task body when the task was crashed from outside. */
export class TaskAborted extends Error {
  constructor() {
    super('task aborted');
    this.name = 'TaskAborted';
  }
}

/** Parses a UPID; undefined when it does not parse. */
export function parseUpid(
  upid: string,
):
  | { node: string; pid: number; pstart: number; starttime: number; type: string; id: string; user: string }
  | undefined {
  const m =
    /^UPID:([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$/.exec(
      upid,
    );
  if (!m) return undefined;
  return {
    node: m[1],
    pid: parseInt(m[3], 16),
    pstart: parseInt(m[4], 16),
    starttime: parseInt(m[5], 16),
    type: m[6],
    id: m[7],
    user: m[8],
  };
}

const hex8 = (n: number): string => n.toString(16).toUpperCase().padStart(8, '0');

/** Spawns and keeps tasks. */
export class TaskManager {
  private readonly tasks = new Map<string, Task>();
  private readonly internals = new WeakMap<Task, TaskInternals>();
  private nextPid = 0x1a2b0;
  private readonly latency: Latency;
  private readonly slowFactor: (task: Task) => number;
  private readonly onEnd: (task: Task) => void;

  constructor(
    latency: Latency,
    slowFactor: (task: Task) => number,
    onEnd: (task: Task) => void = () => undefined,
  ) {
    this.latency = latency;
    this.slowFactor = slowFactor;
    this.onEnd = onEnd;
  }

  get(upid: string): Task | undefined {
    return this.tasks.get(upid);
  }

  all(): Task[] {
    return [...this.tasks.values()];
  }

  running(): Task[] {
    return this.all().filter((t) => t.status === 'running');
  }

  /** Starts a task; `body` runs asynchronously and its throw becomes TASK ERROR. */
  spawn(
    opts: { node: string; type: string; id: string; user: string },
    body: (ctx: TaskContext) => Promise<void>,
  ): Task {
    const pid = this.nextPid++;
    const pstart = 0x3000000 + (pid % 0xffff) * 17;
    const starttime = Math.floor(Date.now() / 1000);
    const upid = `UPID:${opts.node}:${hex8(pid)}:${hex8(pstart)}:${hex8(starttime)}:${opts.type}:${opts.id}:${opts.user}:`;
    let finish: () => void = () => undefined;
    const task: Task = {
      upid,
      node: opts.node,
      pid,
      pstart,
      starttime,
      type: opts.type,
      id: opts.id,
      user: opts.user,
      status: 'running',
      log: [],
      warnings: 0,
      done: new Promise<void>((r) => (finish = r)),
      aborted: false,
    };
    let fireAbort: () => void = () => undefined;
    const abort = new Promise<void>((r) => (fireAbort = r));
    this.internals.set(task, { abort, fireAbort });
    this.tasks.set(upid, task);
    if (this.tasks.size > 50000) this.prune();
    const ctx: TaskContext = {
      task,
      log: (line) => void task.log.push(line),
      warn: (line) => {
        task.warnings++;
        task.log.push(`WARN: ${line}`);
      },
      sleep: async (simMs) => {
        ctx.check();
        await Promise.race([sleep(this.latency.toReal(simMs * this.slowFactor(task))), abort]);
        ctx.check();
      },
      check: () => {
        if (task.aborted) throw new TaskAborted();
      },
    };
    void (async () => {
      try {
        await Promise.resolve();
        await body(ctx);
        if (task.aborted) return;
        task.exitstatus = task.warnings > 0 ? `WARNINGS: ${task.warnings}` : 'OK';
        task.log.push(task.warnings > 0 ? `TASK WARNINGS: ${task.warnings}` : 'TASK OK');
      } catch (err) {
        if (task.aborted) return;
        const msg = (err instanceof Error ? err.message : String(err)).replace(/\n+$/, '');
        task.log.push(`TASK ERROR: ${msg}`);
        task.exitstatus = msg.replace(/\n/g, ' ');
      } finally {
        if (!task.aborted) {
          task.status = 'stopped';
          task.endedAt = Date.now();
          this.onEnd(task);
        }
        finish();
      }
    })();
    return task;
  }

  /** Ends a running task abruptly ("unexpected status"): whatever it held (config locks) stays behind. */
  crash(upid: string): boolean {
    const task = this.tasks.get(upid);
    if (!task || task.status !== 'running') return false;
    task.aborted = true;
    task.status = 'stopped';
    task.exitstatus = 'unexpected status';
    task.endedAt = Date.now();
    this.internals.get(task)?.fireAbort();
    this.onEnd(task);
    return true;
  }

  private prune(): void {
    for (const [upid, t] of this.tasks) {
      if (this.tasks.size <= 40000) break;
      if (t.status === 'stopped') this.tasks.delete(upid);
    }
  }
}
