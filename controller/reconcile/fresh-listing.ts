/**
 * One cluster listing (GET /cluster/resources) for every caller that needs one taken after it
 * asked: the name check right before a clone (invariant 3: a VM created a moment ago must stop the
 * clone) and the pass after our own change. A listing already on its way when a caller asks may
 * have been answered before that moment, so it does not serve that caller: the caller joins the
 * next listing, which is sent once the one on its way is answered and serves everyone who asked
 * meanwhile. Callers asking in the same turn of the event loop share one listing (it is sent on the
 * next turn), so concurrent deploys pay for one listing, not one each.
 */
import type { VmResource } from '../proxmox/types.js';

export class FreshListing {
  /** The listing on its way (sent, not answered). */
  #sent: Promise<VmResource[]> | undefined;
  /** The next listing, not sent yet: every caller that asks now joins it. */
  #next: Promise<VmResource[]> | undefined;

  constructor(private readonly read: () => Promise<VmResource[]>) {}

  /** A listing whose request was sent after this call. */
  get(): Promise<VmResource[]> {
    this.#next ??= this.#schedule();
    return this.#next;
  }

  async #schedule(): Promise<VmResource[]> {
    // Callers of this turn join; then the listing on its way, if any, is answered first. Only this
    // scheduled listing sends, so none is sent in between.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await this.#sent?.catch(() => undefined);
    this.#next = undefined;
    const sent = this.read();
    this.#sent = sent;
    const settle = () => {
      if (this.#sent === sent) this.#sent = undefined;
    };
    void sent.then(settle, settle);
    return sent;
  }
}
