/**
 * One cluster listing (GET /cluster/resources) for every caller that needs one taken after it
 * asked: the name check right before a clone (invariant 3: a VM created a moment ago must stop the
 * clone) and the pass after our own change. A listing already on its way when a caller asks may
 * have been answered before that moment, so it does not serve that caller: the caller joins the
 * next listing, which is sent once the one on its way is answered and serves everyone who asked
 * meanwhile.
 *
 * Concurrent deploys reach their name checks a few requests apart (each reads what its path needs
 * first), so callers can say they will ask soon (`expect`): the next listing is sent once every
 * expected caller asked or stepped back (`release`: it waits for something else first, or will not
 * ask), and at the latest `maxWaitMs` after it was due. Every caller still gets a listing sent after
 * it asked.
 */
import type { VmResource } from '../proxmox/types.js';

/** Longest a due listing waits for expected callers (real ms: a safety bound, normally not reached). */
export const MAX_GATHER_MS = 250;

export class FreshListing {
  /** The listing on its way (sent, not answered). */
  #sent: Promise<VmResource[]> | undefined;
  /** The next listing, not sent yet: every caller that asks now joins it. */
  #next: Promise<VmResource[]> | undefined;
  /** Callers expected to ask soon, by key. */
  readonly #expected = new Set<string>();
  /** Ends the due listing's wait for expected callers. */
  #gathered: (() => void) | undefined;

  constructor(
    private readonly read: () => Promise<VmResource[]>,
    private readonly maxWaitMs = MAX_GATHER_MS,
  ) {}

  /** `key` will ask soon: the next listing waits for it (until it asks or is released). */
  expect(key: string): void {
    this.#expected.add(key);
  }

  /** `key` will not ask soon after all (it waits for something else first, or will not ask). */
  release(key: string): void {
    if (this.#expected.delete(key) && this.#expected.size === 0) this.#gathered?.();
  }

  /** A listing whose request was sent after this call; `key` asks as an expected caller. */
  get(key?: string): Promise<VmResource[]> {
    this.#next ??= this.#schedule();
    if (key !== undefined) this.release(key);
    return this.#next;
  }

  async #schedule(): Promise<VmResource[]> {
    // Callers of this turn join; then the listing on its way, if any, is answered first. Only this
    // scheduled listing sends, so none is sent in between.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await this.#sent?.catch(() => undefined);
    if (this.#expected.size > 0) await this.#gather();
    this.#next = undefined;
    const sent = this.read();
    this.#sent = sent;
    const settle = () => {
      if (this.#sent === sent) this.#sent = undefined;
    };
    void sent.then(settle, settle);
    return sent;
  }

  /** Resolves once no expected caller is left, or after maxWaitMs. */
  #gather(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#gathered = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.maxWaitMs);
      this.#gathered = done;
    });
  }
}
