import { expect } from 'chai';
import { FreshListing } from '../../controller/reconcile/fresh-listing.js';
import type { VmResource } from '../../controller/proxmox/types.js';

/** A listing read the test answers by hand; `sent` counts the requests made. */
function manualRead() {
  const pending: Array<(r: VmResource[]) => void> = [];
  const state = {
    sent: 0,
    read: (): Promise<VmResource[]> => {
      state.sent++;
      return new Promise((resolve) => pending.push(resolve));
    },
    /** Answers the oldest request with a listing of one VM whose vmid is the request's number. */
    answer: () => {
      const n = state.sent - pending.length + 1;
      pending.shift()!([
        { vmid: n, node: 'pve1', type: 'qemu', status: 'stopped', template: false, tags: [] },
      ]);
    },
    open: () => pending.length,
  };
  return state;
}

const turn = () => new Promise<void>((r) => setImmediate(r));

describe('fresh listing: one GET /cluster/resources for concurrent callers, always sent after each asked', () => {
  it('callers of the same turn share one request', async () => {
    const m = manualRead();
    const listings = new FreshListing(m.read);
    const all = Promise.all([listings.get(), listings.get(), listings.get()]);
    await turn();
    m.answer();
    const got = await all;
    expect(m.sent).to.equal(1);
    expect(got.map((l) => l[0]!.vmid)).to.deep.equal([1, 1, 1]);
  });

  it('a caller asking while a listing is on its way gets the next one, sent after that one was answered', async () => {
    const m = manualRead();
    const listings = new FreshListing(m.read);
    const first = listings.get();
    await turn();
    expect(m.sent).to.equal(1);
    const late = [listings.get(), listings.get()];
    await turn();
    await turn();
    // Not sent while the first is on its way: it might have been answered before they asked.
    expect(m.sent).to.equal(1);
    m.answer();
    expect((await first)[0]!.vmid).to.equal(1);
    await turn();
    await turn();
    expect(m.sent).to.equal(2);
    m.answer();
    expect((await Promise.all(late)).map((l) => l[0]!.vmid)).to.deep.equal([2, 2]);
  });

  it('an expected caller holds the listing until it asks: two deploys a few requests apart share one', async () => {
    const m = manualRead();
    const listings = new FreshListing(m.read, 60_000);
    listings.expect('a');
    listings.expect('b');
    const a = listings.get('a');
    for (let i = 0; i < 5; i++) await turn();
    expect(m.sent, 'b has not asked yet').to.equal(0);
    const b = listings.get('b');
    await turn();
    await turn();
    expect(m.sent).to.equal(1);
    m.answer();
    expect((await a)[0]!.vmid).to.equal((await b)[0]!.vmid);
  });

  it('an expected caller that steps back, or never asks, holds nothing up for long', async () => {
    const m = manualRead();
    const released = new FreshListing(m.read, 60_000);
    released.expect('a');
    released.expect('b');
    const a = released.get('a');
    await turn();
    released.release('b');
    await turn();
    await turn();
    expect(m.sent).to.equal(1);
    m.answer();
    await a;

    const n = manualRead();
    const bounded = new FreshListing(n.read, 20);
    bounded.expect('gone');
    const c = bounded.get();
    await turn();
    expect(n.sent).to.equal(0);
    await new Promise((r) => setTimeout(r, 40));
    expect(n.sent).to.equal(1);
    n.answer();
    await c;
  });
});
