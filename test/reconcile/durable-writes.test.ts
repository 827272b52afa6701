/** Durable writes on the clone's critical path and on a first load: as few as invariant 4 allows. */
import { expect } from 'chai';
import { startHarness, type Harness } from '../helpers/sim-harness.js';
import { eagerSpec as spec, loadOf } from '../helpers/builders.js';
import { VmidAllocator } from '../../controller/reconcile/execute/allocate.js';
import { MemoryStore } from '../../controller/store/memory-store.js';
import type { ProxmoxClient } from '../../controller/proxmox/client.js';
import type { Inventory } from '../../controller/types.js';

describe('reconcile durable writes', function () {
  this.timeout(30_000);
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('a first load of many workers is one durable write', async () => {
    h = await startHarness();
    const before = h.store.stats().writes;
    const specs = Array.from({ length: 60 }, (_, i) => spec(`w${i}`, { deploy: 'OnDemand' }));
    const { changed } = await h.fleet.applyDesired(loadOf(specs));
    expect(changed).to.have.length(60);
    expect(h.store.stats().writes - before).to.equal(1);
    expect(Object.keys(h.store.persisted()!.workers)).to.have.length(60);
  });

  it('the vmid reservation and the clone intent reach the disk in one write, before the clone call', async () => {
    const saved: Inventory[] = [];
    let intentOnDiskAtCall: unknown;
    const harness = await startHarness({
      fleet: {
        hooks: {
          afterCall(op, worker) {
            if (op === 'clone')
              intentOnDiskAtCall = harness.store.persisted()?.workers[worker]?.inventory.intent;
          },
        },
      },
    });
    h = harness;
    const save = harness.store.saveInventory.bind(harness.store);
    harness.store.saveInventory = (name: string, inv: Inventory) => {
      saved.push(structuredClone(inv));
      return save(name, inv);
    };
    await harness.fleet.applyDesired(loadOf([spec('w1', { host: 'pve2' })]));
    await harness.fleet.observe();
    await harness.fleet.reconcile('w1', new AbortController().signal);
    const withVmid = saved.filter((r) => r.vmid !== undefined);
    expect(withVmid.length).to.be.greaterThan(0);
    // The first durable save that holds the vmid already holds the clone intent (one write, not two),
    // with the node the clone is sent to (the template's: its task list holds the clone task) and the
    // template's vmid (the clone task's id there), and the deploy's path and steps.
    expect(withVmid[0]!.intent).to.include({
      op: 'clone',
      vmid: withVmid[0]!.vmid,
      node: 'pve1',
      source: 9000,
    });
    expect(withVmid[0]!.deploy?.steps).to.deep.equal(['clone', 'move-disk', 'finish']);
    expect(withVmid[0]!.intent?.upid).to.equal(undefined);
    // ... and it was on disk when the clone call was made (invariant 4).
    expect(intentOnDiskAtCall).to.include({ op: 'clone', vmid: withVmid[0]!.vmid });
    expect(harness.store.getWorker('w1')!.deployed).to.not.equal(undefined);
  });

  it('invariant 4: a merge that returns before its durable write (beforeSaved) lets a reconcile read, not mutate, until the spec is on disk', async () => {
    const onDiskAtCall: (string | undefined)[] = [];
    let holding = false;
    let readsWhileHeld = 0;
    const harness = await startHarness({
      onCall: (info) => {
        if (holding && info.method === 'GET') readsWhileHeld++;
      },
      fleet: {
        hooks: {
          afterCall(op, worker) {
            if (op === 'configure')
              onDiskAtCall.push(harness.store.persisted()?.workers[worker]?.desired.specHash);
          },
        },
      },
    });
    h = harness;
    await harness.fleet.applyDesired(loadOf([spec('w1', { host: 'pve2' })]));
    await harness.fleet.observe();
    await harness.fleet.reconcile('w1', new AbortController().signal);
    expect(harness.store.getWorker('w1')!.deployed).to.not.equal(undefined);
    onDiskAtCall.length = 0;
    // The merge's write is held on its way to "disk"; the reconcile it queues starts meanwhile.
    const store = harness.store as unknown as { persist(data: unknown): Promise<number> };
    const persist = store.persist.bind(store);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let held = false;
    store.persist = async (data) => {
      if (!held) {
        held = true;
        holding = true;
        await gate;
        holding = false;
      }
      return persist(data);
    };
    const changed = loadOf([spec('w1', { host: 'pve2', description: 'changed' })]);
    const merged = await harness.fleet.applyDesired(changed, { partial: true, beforeSaved: true });
    expect(merged.changed).to.deep.equal(['w1']);
    let onDisk = false;
    void merged.saved!.then(() => (onDisk = true));
    const reconcile = harness.fleet.reconcile('w1', new AbortController().signal);
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 5));
    expect(onDisk, 'the merge is still on its way to disk').to.equal(false);
    expect(onDiskAtCall, 'no mutating call before it is on disk').to.deep.equal([]);
    expect(readsWhileHeld, 'the reconcile read Proxmox meanwhile').to.be.greaterThan(0);
    open();
    await merged.saved;
    await reconcile;
    const newHash = harness.store.getWorker('w1')!.specHash;
    expect(onDiskAtCall, 'the config change found the new spec on disk').to.deep.equal([newHash]);
  });

  it('concurrent vmid reservations do not wait for each other (their saves can share a write)', async () => {
    let next = 200;
    const client = {
      async nextId(vmid?: number) {
        return vmid ?? next++;
      },
    } as unknown as ProxmoxClient;
    const store = new MemoryStore();
    await store.open();
    const allocator = new VmidAllocator(client, store);
    let inReserve = 0;
    let maxInReserve = 0;
    const release: (() => void)[] = [];
    const reserve = async () => {
      inReserve++;
      maxInReserve = Math.max(maxInReserve, inReserve);
      await new Promise<void>((r) => release.push(r));
      inReserve--;
    };
    const a = allocator.allocate(reserve);
    const b = allocator.allocate(reserve);
    for (let i = 0; i < 50 && release.length < 2; i++) await new Promise((r) => setImmediate(r));
    expect(maxInReserve).to.equal(2);
    for (const r of release) r();
    const ids = await Promise.all([a, b]);
    expect(new Set(ids).size).to.equal(2);
  });
});
