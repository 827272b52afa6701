/**
 * Status changes as events, for the API's server-sent events. Worker events come from comparing
 * statuses (StatusWatcher), so writes by the lifecycle and by the reconcile core are seen alike;
 * the session manager emits session events itself.
 */
import { EventEmitter } from 'node:events';
import type { Store } from '../store/store.js';
import type { Condition, Phase, WorkerStatus } from '../types.js';

export type LifecycleEvent =
  | {
      type: 'worker';
      worker: string;
      phase: Phase;
      /** The phase before, when it changed. */
      previousPhase?: Phase;
      conditions: Condition[];
      sessions: string[];
      /** The newest history entry's cause, when one was added. */
      cause?: string;
      time: string;
    }
  | { type: 'worker-removed'; worker: string; time: string }
  | {
      type: 'session';
      id: string;
      worker: string;
      state: 'starting' | 'ready' | 'ended';
      reason?: string;
      time: string;
    };

/** A typed event emitter of lifecycle events. */
export class EventBus {
  readonly #emitter = new EventEmitter();

  constructor() {
    // SSE clients each add a listener.
    this.#emitter.setMaxListeners(0);
  }

  emit(event: LifecycleEvent): void {
    this.#emitter.emit('event', event);
  }

  /** Subscribes; returns the unsubscribe function. */
  subscribe(fn: (event: LifecycleEvent) => void): () => void {
    this.#emitter.on('event', fn);
    return () => this.#emitter.off('event', fn);
  }

  get listeners(): number {
    return this.#emitter.listenerCount('event');
  }
}

function changed(before: WorkerStatus | undefined, after: WorkerStatus): boolean {
  if (!before) return true;
  if (before.phase !== after.phase) return true;
  if (before.sessions.join(',') !== after.sessions.join(',')) return true;
  if (before.history.length !== after.history.length) return true;
  const lastOf = (s: WorkerStatus) => JSON.stringify(s.history.at(-1) ?? null);
  if (lastOf(before) !== lastOf(after)) return true;
  const cond = (s: WorkerStatus) => s.conditions.map((c) => `${c.type}=${c.status}:${c.reason}`).join(',');
  return cond(before) !== cond(after);
}

function workerEvent(
  name: string,
  before: WorkerStatus | undefined,
  after: WorkerStatus,
  time: string,
): LifecycleEvent {
  const last = after.history[after.history.length - 1];
  const added = !before || JSON.stringify(before.history.at(-1) ?? null) !== JSON.stringify(last ?? null);
  return {
    type: 'worker',
    worker: name,
    phase: after.phase,
    ...(before && before.phase !== after.phase ? { previousPhase: before.phase } : {}),
    conditions: after.conditions,
    sessions: after.sessions,
    ...(added && last ? { cause: `${last.action}: ${last.cause}` } : {}),
    time,
  };
}

/**
 * Turns status writes into events by comparing each worker's status with the last one seen. Whoever
 * writes (the lifecycle, the reconcile core) only has to call `check()` afterwards, or wait for the
 * periodic check; comparing means an event is never sent twice.
 */
export class StatusWatcher {
  readonly #seen = new Map<string, WorkerStatus>();
  #scheduled = false;
  #timer?: NodeJS.Timeout;

  constructor(
    private readonly store: Pick<Store, 'listWorkers'>,
    private readonly bus: EventBus,
  ) {
    for (const w of store.listWorkers()) this.#seen.set(w.name, w.status);
  }

  /** Compares now and emits an event per changed worker. */
  check(): void {
    this.#scheduled = false;
    const time = new Date().toISOString();
    const present = new Set<string>();
    for (const w of this.store.listWorkers()) {
      present.add(w.name);
      const before = this.#seen.get(w.name);
      if (changed(before, w.status)) this.bus.emit(workerEvent(w.name, before, w.status, time));
      this.#seen.set(w.name, w.status);
    }
    for (const name of [...this.#seen.keys()]) {
      if (!present.has(name)) {
        this.#seen.delete(name);
        this.bus.emit({ type: 'worker-removed', worker: name, time });
      }
    }
  }

  /** Checks on the next turn (many writes in one turn give one check). */
  schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.check());
  }

  /** Also checks every `ms` (catches writers that do not call check). */
  startPolling(ms: number): void {
    this.#timer ??= setInterval(() => this.check(), ms);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** A Store that asks the watcher to check after each worker write. */
export function withStatusEvents(store: Store, watcher: StatusWatcher): Store {
  const wrapped: Partial<Store> = {
    saveStatus(name, status) {
      store.saveStatus(name, status);
      watcher.schedule();
    },
    async saveWorker(record) {
      await store.saveWorker(record);
      watcher.schedule();
    },
    async deleteWorker(name) {
      await store.deleteWorker(name);
      watcher.schedule();
    },
  };
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && prop in wrapped) return (wrapped as Record<string, unknown>)[prop];
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
