/**
 * vmids for a burst of deploys (allocate.ts): one nextid for the burst, the ids after it taken as
 * free as far as our records and the name check's listing know. An id someone takes meanwhile on
 * another node fails only that clone (pmxcfs refuses its temporary config): the worker gets another
 * id, and the other VM is not touched (invariant 3).
 */
import { expect } from 'chai';
import { converge, startHarness, workerVms, type Harness } from '../helpers/sim-harness.js';
import { eagerSpec as spec, loadOf, makeRecord } from '../helpers/builders.js';
import type { ProxmoxClient } from '../../controller/proxmox/client.js';
import { VmidAllocator } from '../../controller/reconcile/execute/allocate.js';
import { MemoryStore } from '../../controller/store/memory-store.js';

describe('vmid allocation for a burst of deploys', function () {
  this.timeout(30_000);
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('asks nextid once per burst and skips the ids our records hold and the listing shows', async () => {
    let asked = 0;
    const client = {
      async nextId(vmid?: number) {
        if (vmid !== undefined) throw new Error('a burst pick was asserted');
        asked++;
        return 100;
      },
    } as unknown as ProxmoxClient;
    const store = new MemoryStore();
    await store.open();
    await store.seedWorker(makeRecord('held', { vmid: 101 }));
    const allocator = new VmidAllocator(client, store);
    const taken = new Set([102, 104]);
    const ids = await Promise.all(
      Array.from({ length: 4 }, () => allocator.allocate(async () => undefined, undefined, taken)),
    );
    expect(asked).to.equal(1);
    expect(ids).to.have.members([100, 103, 105, 106]);
    // the burst is over: the next pick asks again
    await allocator.allocate(async () => undefined);
    expect(asked).to.equal(2);
  });

  it('an id taken on another node after the listing fails only its clone; that worker is deployed at another id', async () => {
    let foreign: number | undefined;
    h = await startHarness({
      onCall: (info) => {
        // Right after the burst's nextid answered: someone creates a VM at the id after it, elsewhere.
        if (info.operation === 'nextId' && foreign === undefined && h) {
          foreign =
            Math.max(
              ...h.running.sim
                .listVms()
                .map((v) => v.vmid)
                .filter((v) => v < 9000),
              99,
            ) + 2;
          h.running.sim.createForeignVm({ vmid: foreign, node: 'pve2', name: 'elsewhere' });
        }
      },
    });
    const harness = h;
    await harness.fleet.applyDesired(loadOf([spec('w1'), spec('w2'), spec('w3')]));
    await harness.fleet.observe();
    await Promise.all(
      ['w1', 'w2', 'w3'].map((n) =>
        harness.fleet.reconcile(n, new AbortController().signal).catch(() => undefined),
      ),
    );
    await converge(harness);
    const failed = harness.running.sim.tasks
      .all()
      .filter((t) => t.type === 'qmclone' && /File exists/.test(String(t.exitstatus)));
    expect(failed, 'a clone collided with the foreign VM').to.have.length(1);
    const other = harness.running.sim.getVm(foreign!);
    expect(other).to.include({ node: 'pve2', name: 'elsewhere' });
    const vms = workerVms(harness).filter((v) => v.vmid !== foreign);
    expect(vms.map((v) => v.name).sort()).to.deep.equal(['w1', 'w2', 'w3']);
    for (const n of ['w1', 'w2', 'w3']) {
      const rec = harness.store.getWorker(n)!;
      expect(rec.vmid).to.not.equal(foreign);
      expect(harness.running.sim.getVm(rec.vmid!)?.name).to.equal(n);
    }
  });
});
