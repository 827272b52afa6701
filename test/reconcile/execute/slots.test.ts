/**
 * Slot keying: the storage and clone slots of a non-shared storage (local-lvm) are per node, as
 * PVE's `pve-storage-<id>` lock is; a shared storage (cephpool) is one pool for the cluster.
 */
import { expect } from 'chai';
import { startHarness, type Harness } from '../../helpers/sim-harness.js';
import { eagerSpec as spec, loadOf } from '../../helpers/builders.js';
import { OperationSlots, storageSlotKey } from '../../../controller/reconcile/execute/slots.js';
import { StorageScopes } from '../../../controller/reconcile/execute/storage-scope.js';
import type { ProxmoxClient } from '../../../controller/proxmox/client.js';
import type { PveStorage } from '../../../controller/proxmox/types.js';
import { FakeClock } from '../../helpers/clock.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs one reconcile of each worker at once with clonesPerStorage 1. Every clone call, once
 * returned, waits (inside its slots) up to `holdMs` for another clone to join it; returns the
 * groups of workers whose clones were in flight together.
 */
async function overlappingClones(names: string[], specs: ReturnType<typeof spec>[]): Promise<string[][]> {
  const inCall = new Set<string>();
  const groups: string[][] = [];
  const holdMs = 400;
  const harness = await startHarness({
    settings: { limits: { perNode: 8, perStorage: 8, clonesPerStorage: 1 } },
    fleet: {
      hooks: {
        async afterCall(op, worker) {
          if (op !== 'clone') return;
          inCall.add(worker);
          for (let t = 0; t < holdMs && inCall.size < 2; t += 5) await sleep(5);
          if (inCall.size > 1) groups.push([...inCall].sort());
          await sleep(20);
          inCall.delete(worker);
        },
      },
    },
  });
  h = harness;
  await harness.fleet.applyDesired(loadOf(specs));
  await harness.fleet.observe();
  const results = await Promise.allSettled(
    names.map((n) => harness.fleet.reconcile(n, new AbortController().signal)),
  );
  for (const r of results) expect(r.status).to.equal('fulfilled');
  expect(harness.store.listWorkers().every((r) => r.deployed !== undefined)).to.equal(true);
  return groups;
}

let h: Harness | undefined;

describe('reconcile slots: per-node keying of local storage', function () {
  this.timeout(30_000);
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('clones to local-lvm on two nodes run in parallel; a second one on the same node waits for the slot', async () => {
    const groups = await overlappingClones(
      ['a1', 'b2', 'c1'],
      [spec('a1', { host: 'pve1' }), spec('b2', { host: 'pve2' }), spec('c1', { host: 'pve1' })],
    );
    // pve1 and pve2 each have their own local-lvm clone slot ...
    expect(groups.some((g) => g.includes('b2') && (g.includes('a1') || g.includes('c1')))).to.equal(true);
    // ... but two clones to pve1's local-lvm never ran together (clonesPerStorage 1).
    expect(groups.some((g) => g.includes('a1') && g.includes('c1'))).to.equal(false);
  });

  it('clones to a shared storage (cephpool) share one pool across nodes', async () => {
    const groups = await overlappingClones(
      ['s1', 's2'],
      [spec('s1', { host: 'pve1', storage: 'cephpool' }), spec('s2', { host: 'pve2', storage: 'cephpool' })],
    );
    expect(groups).to.deep.equal([]);
  });

  it('keys storage slots by node for local storage and by storage for shared storage', async () => {
    expect(storageSlotKey({ node: 'pve1', storage: 'local-lvm' })).to.equal('pve1/local-lvm');
    expect(storageSlotKey({ node: 'pve1', storage: 'cephpool', shared: true })).to.equal('cephpool');
    expect(storageSlotKey({ node: 'pve1' })).to.equal(undefined);
    const slots = new OperationSlots({ perNode: 8, perStorage: 8, clonesPerStorage: 2 });
    const held = await Promise.all([
      slots.acquire({ node: 'pve1', storage: 'local-lvm', clone: true }),
      slots.acquire({ node: 'pve1', storage: 'local-lvm', clone: true }),
      slots.acquire({ node: 'pve2', storage: 'local-lvm', clone: true }),
    ]);
    expect(slots.clone.inUse('pve1/local-lvm')).to.equal(2);
    expect(slots.clone.inUse('pve2/local-lvm')).to.equal(1);
    let third = false;
    const waiting = slots.acquire({ node: 'pve1', storage: 'local-lvm', clone: true }).then((r) => {
      third = true;
      return r;
    });
    await sleep(5);
    expect(third).to.equal(false);
    held[0]!();
    (await waiting)();
    expect(third).to.equal(true);
  });

  it('learns which storages are shared per node, caches them, and counts an unknown one as shared', async () => {
    const clock = new FakeClock();
    let calls = 0;
    let fail = false;
    const list: PveStorage[] = [
      {
        storage: 'local-lvm',
        type: 'lvmthin',
        content: ['images'],
        shared: false,
        active: true,
        enabled: true,
      },
      { storage: 'cephpool', type: 'rbd', content: ['images'], shared: true, active: true, enabled: true },
    ];
    const client = {
      async storages() {
        calls++;
        if (fail) throw new Error('node down');
        return list;
      },
    } as unknown as ProxmoxClient;
    const scopes = new StorageScopes(client, clock, 1000);
    expect(await scopes.isShared('pve1', 'local-lvm')).to.equal(false);
    expect(await scopes.isShared('pve1', 'cephpool')).to.equal(true);
    expect(calls).to.equal(1);
    fail = true;
    // A node that cannot be asked: the cautious answer (one cluster-wide pool).
    expect(await scopes.isShared('pve2', 'local-lvm')).to.equal(true);
    // After the TTL pve1 is asked again; when that fails the last answer stands.
    await clock.advance(1001);
    expect(await scopes.isShared('pve1', 'local-lvm')).to.equal(false);
    expect(calls).to.equal(3);
  });
});
