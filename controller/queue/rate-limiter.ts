/**
 * Retry delays for the work queue: per-key exponential backoff with jitter (1 s, x2, capped at
 * 5 min), and the jitter helper for periodic resyncs, so a fleet that failed or synced together does
 * not come back in lockstep.
 */

/** Decides how long a key waits before its next retry. */
export interface RateLimiter<K> {
  /** The delay before the key's next retry; counts one more failure. */
  when(key: K): number;
  /** Clears the key's failures (after a success). */
  forget(key: K): void;
  /** Failures counted for the key since the last forget. */
  numRequeues(key: K): number;
}

export interface BackoffOptions {
  /** First delay (default 1000 ms). */
  baseMs?: number;
  /** Growth per failure (default 2). */
  factor?: number;
  /** Longest delay (default 300000 ms, 5 minutes). */
  maxMs?: number;
  /** Share of the delay that may be taken off at random, 0..1 (default 0.1). */
  jitter?: number;
  /** Source of randomness in [0, 1); injected by tests. */
  random?: () => number;
}

export const DEFAULT_BACKOFF = { baseMs: 1000, factor: 2, maxMs: 300_000, jitter: 0.1 } as const;

/**
 * Per-key exponential backoff: the n-th failure in a row waits min(maxMs, baseMs * factor^(n-1)),
 * minus up to `jitter` of it at random. Jitter only shortens, so the cap holds.
 */
export class ExponentialBackoff<K> implements RateLimiter<K> {
  readonly #failures = new Map<K, number>();
  readonly #baseMs: number;
  readonly #factor: number;
  readonly #maxMs: number;
  readonly #jitter: number;
  readonly #random: () => number;

  constructor(options: BackoffOptions = {}) {
    this.#baseMs = options.baseMs ?? DEFAULT_BACKOFF.baseMs;
    this.#factor = options.factor ?? DEFAULT_BACKOFF.factor;
    this.#maxMs = options.maxMs ?? DEFAULT_BACKOFF.maxMs;
    this.#jitter = Math.min(1, Math.max(0, options.jitter ?? DEFAULT_BACKOFF.jitter));
    this.#random = options.random ?? Math.random;
    if (!(this.#baseMs > 0) || !(this.#factor >= 1) || !(this.#maxMs >= this.#baseMs)) {
      throw new RangeError('backoff needs baseMs > 0, factor >= 1 and maxMs >= baseMs');
    }
  }

  when(key: K): number {
    const n = this.#failures.get(key) ?? 0;
    this.#failures.set(key, n + 1);
    // Past ~1000 doublings the power is Infinity; min() still caps it.
    const delay = Math.min(this.#maxMs, this.#baseMs * Math.pow(this.#factor, n));
    return Math.round(delay * (1 - this.#jitter * this.#random()));
  }

  forget(key: K): void {
    this.#failures.delete(key);
  }

  numRequeues(key: K): number {
    return this.#failures.get(key) ?? 0;
  }
}

/**
 * An interval spread by up to +/- `fraction` of itself at random (e.g. jitter(600000, 0.1) is between 9
 * and 11 minutes), for periodic resyncs.
 */
export function jitter(intervalMs: number, fraction: number, random: () => number = Math.random): number {
  const f = Math.min(1, Math.max(0, fraction));
  return Math.max(0, Math.round(intervalMs * (1 + f * (2 * random() - 1))));
}
