/**
 * vmid allocation: PVE's nextid reserves nothing (pve-manager PVE/API2/Cluster.pm nextid only checks
 * "at time of check"), so two creators can get the same
 * id. We take a candidate from nextid (free when it answered), skip ids our own records hold, assert
 * any other candidate with `?vmid=`, and record the reservation (with the clone intent) durably
 * BEFORE the clone is sent; the clone itself refuses an id taken since (clone_vm dies "VM exists").
 * Picks queued behind each other (a fleet deployed at once) take the candidates after the last pick
 * instead of asking nextid again; each is still asserted.
 * One pick at a time per controller (reservations are written concurrently); a collision at clone
 * time drops the reservation and the next attempt allocates again.
 */
import { AlreadyExistsError } from '../../errors.js';
import type { ProxmoxClient } from '../../proxmox/client.js';
import type { Store } from '../../store/store.js';

/** Candidates tried before giving up (each a nextid call). */
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
   * `preferred` (an earlier reservation) is kept when it is still free.
   */
  async allocate(reserve: (vmid: number) => Promise<void>, preferred?: number): Promise<number> {
    this.#queued++;
    const pick = this.#tail
      .then(async () => {
        const vmid = await this.#pick(preferred);
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

  async #pick(preferred?: number): Promise<number> {
    this.#held ??= new Set(
      this.store
        .listWorkers()
        .map((r) => r.vmid)
        .filter((v): v is number => v !== undefined),
    );
    const held = this.#held;
    if (preferred !== undefined && (await this.#free(preferred))) return preferred;
    // nextid's own answer was free when it was given (as free as an assert of it would say): only
    // the candidates after it are asserted.
    let unasserted = this.#cursor === undefined ? await this.client.nextId() : undefined;
    let candidate = unasserted ?? this.#cursor!;
    for (let i = 0; i < MAX_PROBES; i++, candidate++, unasserted = undefined) {
      if (held.has(candidate)) continue;
      if (candidate === unasserted || (await this.#free(candidate))) {
        this.#cursor = candidate + 1;
        return candidate;
      }
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
