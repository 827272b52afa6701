/**
 * vmid allocation: PVE's nextid reserves nothing (pve-manager PVE/API2/Cluster.pm nextid only checks
 * "at time of check"), so two creators can get the same id. We take a candidate from nextid (free
 * when it answered), skip ids our own records hold and ids a fresh cluster listing shows taken, and
 * record the reservation (with the clone intent) durably BEFORE the clone is sent. Picks queued
 * behind each other (a fleet deployed at once) take the candidates after the last pick instead of
 * asking nextid again, and are not asserted one by one (a request each, one after another, while
 * every other deploy of the burst waits): the clone refuses an id taken since all the same, at once
 * on the clone's node (qemu-server PVE/API2/Qemu.pm clone_vm: "config file already exists") and,
 * for a VM on another node, in its task when pmxcfs refuses the temporary config; either way the
 * deploy allocates again (clone.ts) and no VM of someone else is touched.
 * One pick at a time per controller (reservations are written concurrently).
 */
import { AlreadyExistsError } from '../../errors.js';
import type { ProxmoxClient } from '../../proxmox/client.js';
import type { Store } from '../../store/store.js';

/** Candidates looked at before giving up. */
const MAX_PROBES = 50;

export class VmidAllocator {
  #tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly client: ProxmoxClient,
    private readonly store: Store,
  ) {}

  /**
   * Finds a free vmid and resolves once `reserve(vmid)` (which must save the record durably) is
   * done. Picks are one at a time; the picked id is held in memory before the next pick starts, so
   * reservations need not wait for each other and concurrent ones share one store write.
   * `preferred` (an earlier reservation) is kept when it is still free; `taken`: the vmids of a
   * cluster listing sent after the caller's record was written (the name check's).
   */
  async allocate(
    reserve: (vmid: number) => Promise<void>,
    preferred?: number,
    taken: ReadonlySet<number> = new Set(),
  ): Promise<number> {
    this.#queued++;
    const pick = this.#tail
      .then(async () => {
        const vmid = await this.#pick(preferred, taken);
        this.#held?.add(vmid);
        return vmid;
      })
      .finally(() => {
        // A burst of picks shares one nextid; once it is over, the next pick asks PVE again.
        if (--this.#queued === 0) this.#cursor = undefined;
      });
    this.#tail = pick.catch(() => undefined);
    const vmid = await pick;
    await reserve(vmid);
    return vmid;
  }

  /** vmids our records hold (read once; every reservation since is added). */
  #held: Set<number> | undefined;
  /** Picks asked for and not done yet. */
  #queued = 0;
  /** Within a burst of picks: the candidate after the last pick (asserted free all the same). */
  #cursor: number | undefined;

  async #pick(preferred: number | undefined, taken: ReadonlySet<number>): Promise<number> {
    this.#held ??= new Set(
      this.store
        .listWorkers()
        .map((r) => r.vmid)
        .filter((v): v is number => v !== undefined),
    );
    const held = this.#held;
    if (preferred !== undefined && !taken.has(preferred) && (await this.#free(preferred))) return preferred;
    // nextid's answer was free when it was given; the candidates after it are free as far as our
    // records and the listing know.
    let candidate = this.#cursor ?? (await this.client.nextId());
    for (let i = 0; i < MAX_PROBES; i++, candidate++) {
      if (held.has(candidate) || taken.has(candidate)) continue;
      this.#cursor = candidate + 1;
      return candidate;
    }
    throw new Error(`no free vmid found after ${MAX_PROBES} candidates`);
  }

  async #free(vmid: number): Promise<boolean> {
    try {
      await this.client.nextId(vmid);
      return true;
    } catch (err) {
      if (err instanceof AlreadyExistsError) return false;
      throw err;
    }
  }
}
