/**
 * The keyed work queue of the controller loop. Keys, never events (the reconcile is level-triggered):
 * a key queued twice is queued once (the `dirty` set); a key is handed to one worker at a time (the
 * `processing` set), and a key added while it is processed is queued again when that worker calls
 * done(). take() holds a key outside the workers (the lifecycle, loop/controller.ts hold). Delays
 * (addAfter, addRateLimited) run on the injected Clock, so tests never sleep. runWorkers() is the
 * worker loop with the result/error table (README, design notes).
 */
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { errorMessage, RequeueAfterError, TerminalError } from '../errors.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import type { RateLimiter } from './rate-limiter.js';
import { ExponentialBackoff } from './rate-limiter.js';

export interface WorkQueueOptions<K> {
  clock?: Clock;
  /** Retry delays for addRateLimited (default: ExponentialBackoff, 1 s x2 up to 5 min, 10% jitter). */
  rateLimiter?: RateLimiter<K>;
}

interface Delayed {
  readyAt: number;
  timer: AbortController;
}

/** A deduplicating, single-flight, delay-capable queue of keys. */
export class WorkQueue<K = string> {
  readonly #clock: Clock;
  readonly #limiter: RateLimiter<K>;
  /** Keys waiting to be handed out, in order. */
  #queue: K[] = [];
  /** Keys that need processing: queued, or re-added while processing. */
  readonly #dirty = new Set<K>();
  readonly #processing = new Set<K>();
  readonly #getters: ((key: K | undefined) => void)[] = [];
  readonly #delayed = new Map<K, Delayed>();
  /** take() calls waiting for a key that is being processed, per key, in arrival order. */
  readonly #takers = new Map<K, (() => void)[]>();
  #drainers: (() => void)[] = [];
  #shuttingDown = false;

  constructor(options: WorkQueueOptions<K> = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#limiter = options.rateLimiter ?? new ExponentialBackoff<K>();
  }

  /** Queues a key; a no-op when it is already queued; deferred until done() while it is processed. */
  add(key: K): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return;
    this.#queue.push(key);
    this.#handOut();
  }

  /**
   * Queues a key after `ms`. While a key waits, an earlier deadline replaces a later one and a later
   * one is ignored, so delays never pile up.
   */
  addAfter(key: K, ms: number): void {
    if (this.#shuttingDown) return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const readyAt = this.#clock.now() + ms;
    const waiting = this.#delayed.get(key);
    if (waiting && waiting.readyAt <= readyAt) return;
    waiting?.timer.abort();
    const timer = new AbortController();
    this.#delayed.set(key, { readyAt, timer });
    this.#clock.sleep(ms, timer.signal).then(
      () => {
        if (this.#delayed.get(key)?.timer === timer) this.#delayed.delete(key);
        this.add(key);
      },
      () => {
        // replaced by an earlier deadline, or shut down
      },
    );
  }

  /** Queues a key after its backoff delay (one more failure counted); returns the delay. */
  addRateLimited(key: K): number {
    const ms = this.#limiter.when(key);
    this.addAfter(key, ms);
    return ms;
  }

  /** Clears a key's failure count (after a success, or when retrying is pointless). */
  forget(key: K): void {
    this.#limiter.forget(key);
  }

  /** Failures counted for a key since it was last forgotten. */
  numRequeues(key: K): number {
    return this.#limiter.numRequeues(key);
  }

  /**
   * The next key to process, waiting for one if none is queued. The caller owns the key until it
   * calls done(key). Resolves undefined once the queue is shut down.
   */
  get(): Promise<K | undefined> {
    if (this.#shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.#getters.push(resolve);
      this.#handOut();
    });
  }

  /**
   * Takes a key outside the workers (the lifecycle holding a worker): resolves once no one processes
   * it, and then no worker gets it until done(key). A copy of it already queued waits too, and is
   * handed out after done(); takers of one key are served in arrival order. Works also after
   * shutDown(), so that a holder can finish.
   */
  take(key: K): Promise<void> {
    if (!this.#processing.has(key)) {
      this.#grant(key);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const list = this.#takers.get(key) ?? [];
      list.push(() => {
        this.#grant(key);
        resolve();
      });
      this.#takers.set(key, list);
    });
  }

  #grant(key: K): void {
    const at = this.#queue.indexOf(key);
    // Still dirty: done() queues it again.
    if (at >= 0) this.#queue.splice(at, 1);
    this.#processing.add(key);
  }

  /** Marks a key's processing finished; queues it again if it was added meanwhile. */
  done(key: K): void {
    this.#processing.delete(key);
    const taker = this.#takers.get(key)?.shift();
    if (this.#takers.get(key)?.length === 0) this.#takers.delete(key);
    if (taker) {
      taker();
      return;
    }
    if (this.#dirty.has(key)) {
      if (this.#shuttingDown) this.#dirty.delete(key);
      else {
        this.#queue.push(key);
        this.#handOut();
      }
    }
    if (this.#processing.size === 0 && this.#drainers.length > 0) {
      const drainers = this.#drainers;
      this.#drainers = [];
      for (const d of drainers) d();
    }
  }

  /** Keys waiting to be handed out (the queue-depth metric). */
  len(): number {
    return this.#queue.length;
  }

  /** Keys being processed now. */
  processing(): number {
    return this.#processing.size;
  }

  /** Keys waiting for a delay (addAfter / addRateLimited). */
  delayed(): number {
    return this.#delayed.size;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /**
   * Stops the queue: adds are ignored, delayed keys are dropped, waiting and future get() calls
   * resolve undefined. Keys being processed finish normally (see drain()).
   */
  shutDown(): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    for (const d of this.#delayed.values()) d.timer.abort();
    this.#delayed.clear();
    this.#queue = [];
    for (const key of [...this.#dirty]) if (!this.#processing.has(key)) this.#dirty.delete(key);
    for (const g of this.#getters.splice(0)) g(undefined);
  }

  /** Resolves when no key is being processed. */
  drain(): Promise<void> {
    if (this.#processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drainers.push(resolve));
  }

  /** shutDown(), then wait for the keys in process to be done. */
  async shutDownWithDrain(): Promise<void> {
    this.shutDown();
    await this.drain();
  }

  #handOut(): void {
    while (this.#getters.length > 0 && this.#queue.length > 0) {
      const key = this.#queue.shift()!;
      this.#dirty.delete(key);
      this.#processing.add(key);
      this.#getters.shift()!(key);
    }
  }
}

/** How one item ended, for metrics and logs. */
export interface ItemOutcome<K> {
  key: K;
  /** success: done; requeue: asked to come back (result or RequeueAfterError); error: retried with backoff; terminal: not retried. */
  result: 'success' | 'requeue' | 'error' | 'terminal';
  durationMs: number;
  /** When it will be looked at again (requeue and error). */
  retryInMs?: number;
  error?: unknown;
}

/** What a handler may ask of the queue: come back after this long. */
export interface ItemResult {
  requeueAfterMs?: number;
}

/** Processes one key; returns when to come back, or throws. */
export type ItemHandler<K> = (key: K, signal: AbortSignal) => Promise<ItemResult | void>;

export interface RunWorkersOptions<K> {
  /** Keys processed at once (never two workers on one key). Default 1. */
  concurrency?: number;
  clock?: Clock;
  logger?: Logger;
  /** Per-item time limit: the handler's signal aborts after it (the handler must honour it). */
  timeoutMs?: number;
  /** Aborting it aborts every handler in flight (hard stop); a soft stop is queue.shutDown(). */
  signal?: AbortSignal;
  onOutcome?: (outcome: ItemOutcome<K>) => void;
}

/** Timeout of one item; the reason its signal carries. */
export class ItemTimeoutError extends Error {
  constructor(ms: number) {
    super(`item took longer than ${ms} ms`);
    this.name = 'ItemTimeoutError';
  }
}

/**
 * Runs `concurrency` workers that take keys from the queue and call the handler, until the queue shuts
 * down; resolves when every worker has finished its last item. The result/error table:
 * result.requeueAfterMs > 0 or RequeueAfterError -> forget + addAfter; other success -> forget;
 * TerminalError -> forget, no retry; any other error -> addRateLimited.
 */
export async function runWorkers<K>(
  queue: WorkQueue<K>,
  handler: ItemHandler<K>,
  options: RunWorkersOptions<K> = {},
): Promise<void> {
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? 1));
  const workers = Array.from({ length: concurrency }, async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      await processItem(queue, key, handler, options);
    }
  });
  await Promise.all(workers);
}

async function processItem<K>(
  queue: WorkQueue<K>,
  key: K,
  handler: ItemHandler<K>,
  options: RunWorkersOptions<K>,
): Promise<void> {
  const clock = options.clock ?? systemClock;
  const log = options.logger ?? silentLogger();
  const started = clock.now();
  const abort = new AbortController();
  const onStop = () => abort.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onStop, { once: true });
  if (options.signal?.aborted) onStop();
  const timer = new AbortController();
  if (options.timeoutMs !== undefined && options.timeoutMs > 0) {
    const ms = options.timeoutMs;
    clock.sleep(ms, timer.signal).then(
      () => abort.abort(new ItemTimeoutError(ms)),
      () => {},
    );
  }
  let outcome: ItemOutcome<K>;
  try {
    const result = await handler(key, abort.signal);
    const after = result?.requeueAfterMs;
    queue.forget(key);
    if (after !== undefined && after > 0) {
      queue.addAfter(key, after);
      outcome = { key, result: 'requeue', durationMs: 0, retryInMs: after };
    } else {
      outcome = { key, result: 'success', durationMs: 0 };
    }
  } catch (err) {
    if (err instanceof TerminalError) {
      queue.forget(key);
      log.error('item failed for good; not retried until its input changes', { key, err: errorMessage(err) });
      outcome = { key, result: 'terminal', durationMs: 0, error: err };
    } else if (err instanceof RequeueAfterError) {
      queue.forget(key);
      queue.addAfter(key, err.delayMs);
      outcome = { key, result: 'requeue', durationMs: 0, retryInMs: err.delayMs, error: err };
    } else {
      const retryInMs = queue.addRateLimited(key);
      log.warn('item failed; retrying with backoff', {
        key,
        err: errorMessage(err),
        retryInMs,
        failures: queue.numRequeues(key),
      });
      outcome = { key, result: 'error', durationMs: 0, retryInMs, error: err };
    }
  } finally {
    timer.abort();
    options.signal?.removeEventListener('abort', onStop);
    queue.done(key);
  }
  outcome.durationMs = clock.now() - started;
  try {
    options.onOutcome?.(outcome);
  } catch (err) {
    log.error('outcome hook failed', { key, err: errorMessage(err) });
  }
}
