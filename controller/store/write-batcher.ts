/**
 * Decides when the whole database file is written. Writes are serialised (one in flight) and batched:
 * every change made while a write is in flight goes out together in the next one. Durable changes
 * start a write at once and resolve when a write that began after them has finished; coalesced changes
 * (status updates) wait up to coalesceMs so a burst becomes one write. Timers go through the Clock.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A background write may fail with nobody waiting: that is logged, not an unhandled rejection.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

export interface WriteBatcherOptions {
  clock: Clock;
  /** How long a coalesced change waits for company before it is written. */
  coalesceMs: number;
  /** Delay before a failed write with nobody waiting on it is tried again. */
  retryMs?: number;
  logger: Logger;
}

/** Serialises and batches whole-file writes; `write` must capture the data synchronously. */
export class WriteBatcher {
  readonly #write: () => Promise<void>;
  readonly #clock: Clock;
  readonly #coalesceMs: number;
  readonly #retryMs: number;
  readonly #log: Logger;
  /** Memory holds changes that no started write covers. */
  #dirty = false;
  /** Waiters of the write in flight. */
  #inFlight: Deferred | null = null;
  /** Waiters of the write after the one in flight. */
  #next: Deferred | null = null;
  #timer: AbortController | null = null;
  #stopped = false;

  constructor(write: () => Promise<void>, options: WriteBatcherOptions) {
    this.#write = write;
    this.#clock = options.clock;
    this.#coalesceMs = options.coalesceMs;
    this.#retryMs = options.retryMs ?? Math.max(1000, options.coalesceMs);
    this.#log = options.logger;
  }

  /** True while changes wait for a write or a write is running. */
  get busy(): boolean {
    return this.#dirty || this.#inFlight !== null || this.#next !== null;
  }

  /** A coalesced change: written within coalesceMs, together with whatever else changed. */
  markDirty(): void {
    this.#dirty = true;
    if (!this.#inFlight && !this.#timer && !this.#stopped) this.#schedule(this.#coalesceMs);
  }

  /** A durable change: resolves once a write that includes it is on disk; rejects if that write fails. */
  writeNow(): Promise<void> {
    this.#dirty = true;
    this.#cancelTimer();
    this.#next ??= deferred();
    const waiter = this.#next;
    if (!this.#inFlight) this.#start();
    return waiter.promise;
  }

  /** Resolves when everything changed so far is on disk. */
  flush(): Promise<void> {
    if (this.#dirty || this.#next) return this.writeNow();
    if (this.#inFlight) return this.#inFlight.promise;
    return Promise.resolve();
  }

  /** Cancels the coalescing timer; call after flush when closing. */
  stop(): void {
    this.#stopped = true;
    this.#cancelTimer();
  }

  #start(): void {
    const current = this.#next ?? deferred();
    this.#next = null;
    this.#dirty = false;
    this.#inFlight = current;
    let writing: Promise<void>;
    try {
      writing = this.#write();
    } catch (err) {
      writing = Promise.reject(err);
    }
    writing
      .then(
        () => {
          current.resolve();
          return true;
        },
        (err: unknown) => {
          // The data is still only in memory: the next write carries it.
          this.#dirty = true;
          this.#log.error('store write failed', { err });
          current.reject(err);
          return false;
        },
      )
      .then((ok) => {
        this.#inFlight = null;
        if (this.#next) this.#start();
        else if (this.#dirty && !this.#stopped) this.#schedule(ok ? this.#coalesceMs : this.#retryMs);
      });
  }

  #schedule(ms: number): void {
    this.#cancelTimer();
    const timer = new AbortController();
    this.#timer = timer;
    this.#clock.sleep(ms, timer.signal).then(
      () => {
        if (this.#timer !== timer) return;
        this.#timer = null;
        if (this.#dirty && !this.#inFlight) this.#start();
      },
      () => {
        // cancelled: a durable write took over, or the store closed
      },
    );
  }

  #cancelTimer(): void {
    this.#timer?.abort();
    this.#timer = null;
  }
}
