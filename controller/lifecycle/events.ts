/**
 * Status changes as events, for the API's server-sent events. Worker events come from comparing
 * statuses (StatusWatcher) after the store says a worker changed, so writes by the lifecycle and by
 * the reconcile core are seen alike; the session manager emits session events itself.
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
    }
  /** A manifest load pass ended (the controller's; the fleet page shows the manifests' health). */
  | { type: 'manifests'; invalidFiles: number; errors: number; revision?: string; time: string };

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
 * Turns worker writes into events by comparing each worker's status with the last one seen; the
 * store's change notifications trigger a check (many writes in one turn give one check), and
 * comparing means an event is never sent twice.
 */
export class StatusWatcher {
  readonly #seen = new Map<string, WorkerStatus>();
  #scheduled = false;
  #unsubscribe?: () => void;

  constructor(
    private readonly store: Pick<Store, 'listWorkers' | 'onWorkerChange'>,
    private readonly bus: EventBus,
  ) {
    for (const w of store.listWorkers()) this.#seen.set(w.name, w.status);
  }

  /** Checks after every worker write from now on. */
  start(): void {
    this.#unsubscribe ??= this.store.onWorkerChange(() => this.schedule());
    this.check();
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

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }
}
