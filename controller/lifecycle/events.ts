/**
 * Status changes as events, for the API's server-sent events and metrics. `withEvents` wraps any
 * Store so that every status write (by the lifecycle or by the reconcile core) is seen, without
 * either side having to remember to emit. The session manager emits session events itself.
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
  const cond = (s: WorkerStatus) => s.conditions.map((c) => `${c.type}=${c.status}:${c.reason}`).join(',');
  return cond(before) !== cond(after);
}

function workerEvent(name: string, before: WorkerStatus | undefined, after: WorkerStatus): LifecycleEvent {
  const last = after.history[after.history.length - 1];
  const added = !before || before.history.length !== after.history.length;
  return {
    type: 'worker',
    worker: name,
    phase: after.phase,
    ...(before && before.phase !== after.phase ? { previousPhase: before.phase } : {}),
    conditions: after.conditions,
    sessions: after.sessions,
    ...(added && last ? { cause: `${last.action}: ${last.cause}` } : {}),
    time: new Date().toISOString(),
  };
}

/** A Store that emits an event on `bus` for each worker status change (sessions emit their own). */
export function withEvents(store: Store, bus: EventBus): Store {
  const wrapped: Partial<Store> = {
    saveStatus(name, status) {
      const before = store.getWorker(name)?.status;
      store.saveStatus(name, status);
      if (changed(before, status)) bus.emit(workerEvent(name, before, status));
    },
    async saveWorker(record) {
      const before = store.getWorker(record.name)?.status;
      await store.saveWorker(record);
      if (changed(before, record.status)) bus.emit(workerEvent(record.name, before, record.status));
    },
    async deleteWorker(name) {
      await store.deleteWorker(name);
      bus.emit({ type: 'worker-removed', worker: name, time: new Date().toISOString() });
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
