/**
 * Promise-chain mutexes. `Mutex` serialises critical sections in one process (session booking);
 * `KeyedMutex` does it per key, so that a test, a session start and a reconcile never act on one
 * worker's VM at the same time while different workers proceed in parallel.
 */

/** One lock: callers run one after another, in arrival order. */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();
  #held = false;

  /** True while a critical section runs. */
  get locked(): boolean {
    return this.#held;
  }

  /** Runs fn alone; the lock is released when it settles (also on error). */
  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    const prev = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((r) => (release = r));
    await prev;
    this.#held = true;
    try {
      return await fn();
    } finally {
      this.#held = false;
      release();
    }
  }
}

/** A lock per key; keys without waiters are forgotten. */
export class KeyedMutex {
  #locks = new Map<string, { mutex: Mutex; users: number }>();

  /** True while a critical section for `key` runs or waits to run. */
  isLocked(key: string): boolean {
    return (this.#locks.get(key)?.users ?? 0) > 0;
  }

  /** Runs fn alone for `key`. */
  async run<T>(key: string, fn: () => Promise<T> | T): Promise<T> {
    let entry = this.#locks.get(key);
    if (!entry) {
      entry = { mutex: new Mutex(), users: 0 };
      this.#locks.set(key, entry);
    }
    entry.users++;
    try {
      return await entry.mutex.run(fn);
    } finally {
      entry.users--;
      if (entry.users === 0) this.#locks.delete(key);
    }
  }
}
