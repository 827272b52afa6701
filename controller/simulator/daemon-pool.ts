/**
 * One node's pvedaemon worker pool. pve-manager PVE/HTTPServer.pm rest_handler hands calls marked
 * `protected` to the local pvedaemon, which runs max_workers => 3 processes (PVE/Service/pvedaemon.pm);
 * a handler blocks its worker while it runs (a config PUT waiting for a flock, an agent call waiting for
 * guest-ping). pve-http-server PVE/APIServer/AnyEvent.pm proxy_request gives the proxied call a 30 s
 * timeout and answers 596 while the call keeps running. ASSUMPTION: waiting callers get the next free
 * worker in arrival order (really a connection waits for the process that accepted it).
 */
import { ApiError } from './http/api-error.js';

/** 596 as pveproxy answers it when pvedaemon does not answer in time. */
export function proxyTimeout(): ApiError {
  return new ApiError(596, 'Connection timed out');
}

/** A counting semaphore with FIFO waiters. */
export class DaemonPool {
  private busy = 0;
  private readonly waiters: Array<() => void> = [];

  /** @param workers parallel workers; 0 = unlimited. @param timeoutMs real ms before pveproxy answers 596. */
  constructor(
    readonly workers: number,
    readonly timeoutMs: number,
  ) {}

  /** Runs `fn` in a worker; 596 when no worker frees up or `fn` takes longer than the proxy timeout. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.workers <= 0) return fn();
    const deadline = Date.now() + this.timeoutMs;
    await this.acquire(this.timeoutMs);
    let timer: NodeJS.Timeout | undefined;
    const work = fn().finally(() => this.release());
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(proxyTimeout()), Math.max(0, deadline - Date.now()));
    });
    work.catch(() => undefined); // the answer may already be a 596
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Workers in use and callers waiting (for stats). */
  load(): { busy: number; waiting: number } {
    return { busy: this.busy, waiting: this.waiters.length };
  }

  private acquire(timeoutMs: number): Promise<void> {
    if (this.busy < this.workers) {
      this.busy++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const grant = (): void => {
        clearTimeout(timer);
        this.busy++;
        resolve();
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(grant);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(proxyTimeout());
      }, timeoutMs);
      this.waiters.push(grant);
    });
  }

  private release(): void {
    this.busy--;
    const next = this.waiters.shift();
    if (next) next();
  }
}
