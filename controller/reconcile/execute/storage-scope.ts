/**
 * Which storages are shared, per node, for keying the storage and clone slots (slots.ts). A
 * non-shared storage (local-lvm, lvmthin, dir, zfspool, ...) is a separate disk with its own
 * `pve-storage-<id>` lock on every node, so it is one slot pool per node; a shared one (ceph/rbd,
 * nfs, ...) is one pool for the whole cluster. Learnt from GET /nodes/{node}/storage (`shared`),
 * cached per node and refreshed after `ttlMs`.
 */
import type { Clock } from '../../clock.js';
import type { ProxmoxClient } from '../../proxmox/client.js';
import type { PveStorage } from '../../proxmox/types.js';
import { SingleFlight } from '../../queue/single-flight.js';

/** How long a node's storage list is trusted (storages are rarely reconfigured). */
export const STORAGE_SCOPE_TTL_MS = 10 * 60_000;

export class StorageScopes {
  readonly #shared = new Map<string, { at: number; shared: Set<string> }>();
  readonly #lists = new Map<string, { at: number; list: readonly PveStorage[] }>();
  /** Storage reads in flight, by node. */
  readonly #reading = new SingleFlight<readonly PveStorage[]>();

  constructor(
    private readonly client: ProxmoxClient,
    private readonly clock: Clock,
    private readonly ttlMs = STORAGE_SCOPE_TTL_MS,
  ) {}

  /** Records a storage list just read from `node` (saves a call when the caller already has it). */
  learn(node: string, storages: readonly PveStorage[]): void {
    const shared = new Set(storages.filter((s) => s.shared).map((s) => s.storage));
    const known = this.#shared.get(node);
    // A filtered list (e.g. content=images) only adds to what is known until the entry expires.
    if (known && this.clock.now() - known.at < this.ttlMs) for (const s of known.shared) shared.add(s);
    this.#shared.set(node, { at: this.clock.now(), shared });
  }

  /** The node's storages (unfiltered), read at most once per `ttlMs`; `fresh` reads again. */
  async list(node: string, fresh = false): Promise<readonly PveStorage[]> {
    const known = this.#lists.get(node);
    if (!fresh && known && this.clock.now() - known.at < this.ttlMs) return known.list;
    const list = await this.client.storages(node);
    this.#lists.set(node, { at: this.clock.now(), list });
    this.learn(node, list);
    return list;
  }

  /**
   * Whether `storage` on `node` is shared. When the node cannot be asked, the storage counts as
   * shared: one pool for the cluster is the cautious choice (fewer parallel operations, never more).
   */
  async isShared(node: string, storage: string): Promise<boolean> {
    const known = this.#shared.get(node);
    if (known && this.clock.now() - known.at < this.ttlMs) return known.shared.has(storage);
    try {
      // Workers asking at the same time share the one read in flight.
      this.learn(node, await this.#reading.run(node, () => this.client.storages(node)));
    } catch {
      return known?.shared.has(storage) ?? true;
    }
    return this.#shared.get(node)!.shared.has(storage);
  }
}
