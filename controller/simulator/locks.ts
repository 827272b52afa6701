/**
 * Per-file flocks (lock_file in PVE): shared or exclusive, FIFO, with a wait timeout that ends in
 * "can't lock file '<path>' - got timeout".
 */

/** Releases a held lock. */
export type Release = () => void;

interface Waiter {
  mode: 'shared' | 'exclusive';
  grant: () => void;
}

interface LockState {
  shared: number;
  exclusive: boolean;
  waiters: Waiter[];
}

/** The error text PVE gives when a flock wait times out. */
export function lockTimeoutMessage(path: string): string {
  return `can't lock file '${path}' - got timeout`;
}

/** Lock file path of a VM config. */
export function vmLockPath(vmid: number): string {
  return `/var/lock/qemu-server/lock-${vmid}.conf`;
}

/** Lock file path of a storage. */
export function storageLockPath(storage: string): string {
  return `/var/lock/pve-manager/pve-storage-${storage}`;
}

export class LockTimeoutError extends Error {
  constructor(path: string) {
    super(lockTimeoutMessage(path));
    this.name = 'LockTimeoutError';
  }
}

/** The flock table of the whole cluster (paths are unique per VM/storage). */
export class FlockTable {
  private readonly locks = new Map<string, LockState>();

  /** Whether anybody holds or waits for `path`. */
  busy(path: string): boolean {
    const s = this.locks.get(path);
    return !!s && (s.exclusive || s.shared > 0);
  }

  /** Acquires `path`; rejects with LockTimeoutError after `timeoutMs` real ms. */
  acquire(path: string, mode: 'shared' | 'exclusive', timeoutMs: number): Promise<Release> {
    let s = this.locks.get(path);
    if (!s) {
      s = { shared: 0, exclusive: false, waiters: [] };
      this.locks.set(path, s);
    }
    const state = s;
    const release = (m: 'shared' | 'exclusive'): Release => {
      let done = false;
      return () => {
        if (done) return;
        done = true;
        if (m === 'exclusive') state.exclusive = false;
        else state.shared--;
        this.pump(path, state);
      };
    };
    if (state.waiters.length === 0 && this.compatible(state, mode)) {
      this.take(state, mode);
      return Promise.resolve(release(mode));
    }
    return new Promise<Release>((resolve, reject) => {
      const waiter: Waiter = {
        mode,
        grant: () => {
          clearTimeout(timer);
          resolve(release(mode));
        },
      };
      const timer = setTimeout(
        () => {
          const i = state.waiters.indexOf(waiter);
          if (i >= 0) state.waiters.splice(i, 1);
          reject(new LockTimeoutError(path));
          this.pump(path, state);
        },
        Math.max(0, timeoutMs),
      );
      state.waiters.push(waiter);
    });
  }

  private compatible(s: LockState, mode: 'shared' | 'exclusive'): boolean {
    return mode === 'shared' ? !s.exclusive : !s.exclusive && s.shared === 0;
  }

  private take(s: LockState, mode: 'shared' | 'exclusive'): void {
    if (mode === 'exclusive') s.exclusive = true;
    else s.shared++;
  }

  private pump(path: string, s: LockState): void {
    while (s.waiters.length > 0 && this.compatible(s, s.waiters[0].mode)) {
      const w = s.waiters.shift() as Waiter;
      this.take(s, w.mode);
      w.grant();
    }
    if (!s.exclusive && s.shared === 0 && s.waiters.length === 0) this.locks.delete(path);
  }
}
