/**
 * The test clock: time moves only when a test says so (advance), or, with `jump`, whenever someone
 * sleeps (waits are measured, never slept). Never a real wait.
 */
import type { Clock } from '../../controller/clock.js';

interface Sleeper {
  at: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class FakeClock implements Clock {
  #now: number;
  #sleepers: Sleeper[] = [];

  readonly #jump: boolean;

  constructor(opts: { start?: number; jump?: boolean } = {}) {
    this.#now = opts.start ?? Date.parse('2026-01-01T00:00:00Z');
    this.#jump = opts.jump ?? false;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.#jump) return this.#jumpSleep(ms, signal);
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const s: Sleeper = { at: this.#now + ms, resolve, reject };
      this.#sleepers.push(s);
      signal?.addEventListener('abort', () => {
        this.#sleepers = this.#sleepers.filter((x) => x !== s);
        reject(signal.reason);
      });
    });
  }

  /** Jump mode: let others run once, then move time by `ms`. */
  async #jumpSleep(ms: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    await new Promise<void>((r) => setImmediate(r));
    signal?.throwIfAborted();
    this.#now += ms;
  }

  /** Pending sleepers. */
  get waiting(): number {
    return this.#sleepers.length;
  }

  /** Moves time forward, waking sleepers in order and letting their continuations run. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      this.#sleepers.sort((a, b) => a.at - b.at);
      const next = this.#sleepers[0];
      if (!next || next.at > target) break;
      this.#sleepers.shift();
      this.#now = next.at;
      next.resolve();
      await flushMicrotasks();
    }
    this.#now = target;
    await flushMicrotasks();
  }
}

export async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}
