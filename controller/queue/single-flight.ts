/**
 * One run of an async read per key at a time: callers asking while it is in flight share its
 * result (workers planned together ask for the same template config or storage list at once).
 */
export class SingleFlight<T> {
  readonly #running = new Map<string, Promise<T>>();

  /** `work()`'s promise, or the one already in flight for `key`. */
  run(key: string, work: () => Promise<T>): Promise<T> {
    let p = this.#running.get(key);
    if (!p) {
      p = work().finally(() => this.#running.delete(key));
      this.#running.set(key, p);
    }
    return p;
  }
}
