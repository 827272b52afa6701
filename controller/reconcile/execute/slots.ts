/**
 * Concurrency slots per node, per storage and for clones per storage: Proxmox locks per VM config
 * (pve-guest-common src/PVE/AbstractConfig.pm lock_config) and per storage (pve-storage
 * src/PVE/Storage/Plugin.pm cluster_lock_storage), so a global parallelism knob either wastes capacity or trips lock
 * timeouts. Slots are always taken in the same order (clone, storage, node), so two operations
 * never wait on each other in a cycle. Storage and clone slots are keyed like cluster_lock_storage's lock:
 * `node/storage` for a non-shared storage (each node's local-lvm is its own disk and lock),
 * `storage` for a shared one (one pool cluster-wide).
 */
import type { ControllerSettings } from '../contracts.js';

/** A counting semaphore per key. */
export class KeyedSemaphore {
  readonly #limit: number;
  readonly #held = new Map<string, number>();
  readonly #waiters = new Map<string, (() => void)[]>();

  constructor(limit: number) {
    this.#limit = Math.max(1, limit);
  }

  /** Operations holding a slot of `key`. */
  inUse(key: string): number {
    return this.#held.get(key) ?? 0;
  }

  /** Operations waiting for a slot of `key`. */
  queued(key: string): number {
    return this.#waiters.get(key)?.length ?? 0;
  }

  /** Resolves with a release function once a slot is free; rejects when `signal` aborts first. */
  acquire(key: string, signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    const grant = (): (() => void) => {
      this.#held.set(key, this.inUse(key) + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        this.#release(key);
      };
    };
    if (this.inUse(key) < this.#limit) return Promise.resolve(grant());
    return new Promise((resolve, reject) => {
      const list = this.#waiters.get(key) ?? [];
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(grant());
      };
      const onAbort = () => {
        const l = this.#waiters.get(key) ?? [];
        this.#waiters.set(
          key,
          l.filter((w) => w !== wake),
        );
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      list.push(wake);
      this.#waiters.set(key, list);
    });
  }

  #release(key: string): void {
    const n = this.inUse(key) - 1;
    if (n <= 0) this.#held.delete(key);
    else this.#held.set(key, n);
    const next = this.#waiters.get(key)?.shift();
    if (next) next();
  }
}

/** What a mutating operation needs slots for. */
export interface SlotRequest {
  node: string;
  /** The storage the operation allocates or frees on (clone, resize, delete). */
  storage?: string;
  /** A clone also takes a clone slot on its target storage. */
  clone?: boolean;
  /** The storage is shared (one pool for the cluster); otherwise it is `node`'s own. */
  shared?: boolean;
}

/** The key of the storage (and clone) slots a request takes, or undefined without a storage. */
export function storageSlotKey(req: SlotRequest): string | undefined {
  if (req.storage === undefined) return undefined;
  return req.shared ? req.storage : `${req.node}/${req.storage}`;
}

/** The node, storage and clone slots of one controller. */
export class OperationSlots {
  readonly node: KeyedSemaphore;
  readonly storage: KeyedSemaphore;
  readonly clone: KeyedSemaphore;

  constructor(limits: ControllerSettings['limits']) {
    this.node = new KeyedSemaphore(limits.perNode);
    this.storage = new KeyedSemaphore(limits.perStorage);
    this.clone = new KeyedSemaphore(limits.clonesPerStorage);
  }

  /** Takes every slot the request needs; the returned function releases them all. */
  async acquire(req: SlotRequest, signal?: AbortSignal): Promise<() => void> {
    const releases: (() => void)[] = [];
    try {
      const key = storageSlotKey(req);
      if (req.clone && key) releases.push(await this.clone.acquire(key, signal));
      if (key) releases.push(await this.storage.acquire(key, signal));
      releases.push(await this.node.acquire(req.node, signal));
    } catch (err) {
      for (const r of releases.reverse()) r();
      throw err;
    }
    return () => {
      for (const r of releases.reverse()) r();
    };
  }
}
