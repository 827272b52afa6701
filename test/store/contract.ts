/**
 * The Store contract: one suite run against every implementation (MemoryStore, LowdbStore), so the
 * test double cannot drift from the real thing.
 */
import { expect } from 'chai';
import { StoreCorruptError } from '../../controller/errors.js';
import type { BaseStore } from '../../controller/store/base-store.js';
import {
  HISTORY_LIMIT,
  StoreClosedError,
  StoreReadOnlyError,
  STORE_SCHEMA_VERSION,
} from '../../controller/store/store.js';
import type { StoreData } from '../../controller/store/store.js';
import type { FakeClock } from '../helpers/clock.js';
import { composeRecord, splitRecord } from '../../controller/store/sections.js';
import {
  makeHistory,
  makeReconcileStatus,
  makeRecord,
  makeSession,
  makeStatus,
  TOKEN_TEXT,
} from '../helpers/builders.js';

export const COALESCE_MS = 50;

/** How the contract reaches one implementation. */
export interface StoreHarness {
  clock: FakeClock;
  /** A new store over the current "disk" (what earlier stores persisted, else `initial`), not opened. */
  create(options?: { readOnly?: boolean; initial?: unknown }): BaseStore;
  /** What is on "disk" now. */
  persisted(): StoreData | undefined;
  cleanup(): Promise<void>;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

export function storeContract(name: string, makeHarness: () => StoreHarness): void {
  describe(`Store contract: ${name}`, () => {
    let h: StoreHarness;
    let store: BaseStore;

    beforeEach(async () => {
      h = makeHarness();
      store = h.create();
      await store.open();
    });

    afterEach(async () => {
      await store.close().catch(() => {});
      await h.cleanup();
    });

    it('starts empty', () => {
      expect(store.listWorkers()).to.deep.equal([]);
      expect(store.listSessions()).to.deep.equal([]);
      expect(store.getWorker('w1')).to.equal(undefined);
      expect(store.getMeta('x')).to.equal(undefined);
    });

    it('seedWorker resolves once the record is persisted in its sections, and reads compose them', async () => {
      const rec = makeRecord('w1', { vmid: 120, node: 'pve1' });
      await store.seedWorker(rec);
      expect(h.persisted()?.workers.w1).to.deep.equal(splitRecord(rec));
      expect(h.persisted()?.workers.w1?.inventory).to.deep.equal({ vmid: 120, node: 'pve1' });
      expect(h.persisted()?.schemaVersion).to.equal(STORE_SCHEMA_VERSION);
      expect(store.getWorker('w1')).to.deep.equal({
        ...rec,
        status: { ...rec.status, vmid: 120, node: 'pve1' },
      });
    });

    it('each writer replaces its own section and leaves the others alone', async () => {
      await store.seedWorker(makeRecord('w1'));
      await store.saveInventory('w1', { vmid: 7, node: 'pve2' });
      store.saveLifecycle('w1', { phase: 'Testing', sessions: ['s1'] }, makeHistory(1));
      store.saveStatus('w1', makeReconcileStatus({ phase: 'ShutDown', observedGeneration: 1 }));
      await store.saveDesired([
        { name: 'w1', desired: { spec: makeRecord('w1').spec, specHash: 'h2', generation: 2 } },
      ]);
      const rec = store.getWorker('w1')!;
      expect(rec).to.include({ vmid: 7, node: 'pve2', specHash: 'h2', generation: 2 });
      expect(rec.status).to.include({ phase: 'Testing', observedGeneration: 1, vmid: 7 });
      expect(rec.status.sessions).to.deep.equal(['s1']);
      expect(rec.status.history).to.have.length(1);
      store.saveLifecycle('w1', { sessions: [] });
      expect(store.getWorker('w1')!.status.phase).to.equal('ShutDown');
    });

    it('the file holds every section of every worker after each kind of write (parts kept between writes)', async () => {
      // The file is built from each worker's part serialised when it last changed
      // (store/database-text.ts): after every kind of write it must equal the data in memory.
      const onDisk = async () => {
        await store.flush();
        const expected = Object.fromEntries(
          store.listWorkers().map((r) => [r.name, store.getSections(r.name)]),
        );
        expect(h.persisted()?.workers).to.deep.equal(expected);
        expect(Object.values(h.persisted()?.sessions ?? {})).to.deep.equal(store.listSessions());
      };
      for (const n of ['w1', 'w2', 'w3']) await store.seedWorker(makeRecord(n));
      await onDisk();
      store.saveStatus('w1', makeReconcileStatus({ phase: 'ShutDown', observedGeneration: 1 }));
      await onDisk();
      await store.saveDesired([
        { name: 'w2', desired: { spec: makeRecord('w2').spec, specHash: 'h2', generation: 2 } },
        { name: 'w4', desired: { spec: makeRecord('w4').spec, specHash: 'h4', generation: 1 } },
      ]);
      await onDisk();
      await store.saveInventory('w3', { vmid: 130, node: 'pve3' });
      await onDisk();
      store.saveLifecycle('w1', { phase: 'Testing', sessions: ['s1'] }, makeHistory(2));
      store.appendHistory('w2', makeHistory(1));
      await store.saveSession(makeSession('s1'));
      await onDisk();
      await store.deleteWorker('w3');
      await onDisk();
      await store.seedWorker(makeRecord('w3', { vmid: 131 }));
      store.saveStatus('w3', makeReconcileStatus({ phase: 'ShutDown', observedGeneration: 2 }));
      await onDisk();
      await store.close();
      await store.open();
      store.saveStatus('w4', makeReconcileStatus({ observedGeneration: 1 }));
      await onDisk();
    });

    it('lists workers sorted by name', async () => {
      for (const n of ['w3', 'w1', 'w2']) await store.seedWorker(makeRecord(n));
      expect(store.listWorkers().map((r) => r.name)).to.deep.equal(['w1', 'w2', 'w3']);
    });

    it('never shares objects with callers: neither saved nor returned values alias the live data', async () => {
      const rec = makeRecord('w1');
      await store.seedWorker(rec);
      rec.spec.cpus = 99;
      rec.status.history.push({ time: 't', action: 'a', cause: 'c' });
      const got = store.getWorker('w1')!;
      got.generation = 42;
      got.status.phase = 'Working';
      store.listWorkers()[0]!.spec.host = 'elsewhere';
      const again = store.getWorker('w1')!;
      expect(again.spec.cpus).to.equal(6);
      expect(again.status.history).to.have.length(0);
      expect(again.generation).to.equal(1);
      expect(again.status.phase).to.equal('Configured');
      expect(again.spec.host).to.equal('pve1');
      const meta = { list: [1] };
      await store.setMeta('m', meta);
      meta.list.push(2);
      store.getMeta<{ list: number[] }>('m')!.list.push(3);
      expect(store.getMeta('m')).to.deep.equal({ list: [1] });
    });

    it('coalesces a burst of status updates into one write within the window', async () => {
      await store.seedWorker(makeRecord('w1'));
      const before = store.stats().writes;
      for (let i = 0; i < 25; i++) store.saveStatus('w1', makeReconcileStatus({ observedGeneration: i }));
      await h.clock.advance(COALESCE_MS - 1);
      expect(store.stats().writes).to.equal(before);
      // Memory sees every update at once.
      expect(store.getWorker('w1')!.status.observedGeneration).to.equal(24);
      await h.clock.advance(1);
      await store.flush();
      expect(store.stats().writes).to.equal(before + 1);
      expect(h.persisted()?.workers.w1?.status.observedGeneration).to.equal(24);
      await h.clock.advance(COALESCE_MS * 10);
      expect(store.stats().writes).to.equal(before + 1);
    });

    it('batches durable writes queued while a write is in flight into one write', async () => {
      const saves = Array.from({ length: 10 }, (_, i) => store.seedWorker(makeRecord(`w${i}`)));
      await Promise.all(saves);
      // The first write starts at once; the other nine go out together in the second.
      expect(store.stats().writes).to.equal(2);
      expect(Object.keys(h.persisted()!.workers)).to.have.length(10);
    });

    const desiredOf = (name: string) => {
      const rec = makeRecord(name);
      return { name, desired: { spec: rec.spec, specHash: rec.specHash, generation: rec.generation } };
    };

    it('saveDesired adds and changes a batch of workers in one durable write', async () => {
      const before = store.stats().writes;
      await store.saveDesired(Array.from({ length: 100 }, (_, i) => desiredOf(`b${i}`)));
      expect(store.stats().writes).to.equal(before + 1);
      expect(Object.keys(h.persisted()!.workers)).to.have.length(100);
      expect(store.getWorker('b42')?.name).to.equal('b42');
      expect(store.getWorker('b42')?.status.phase).to.equal('Configured');
      // An empty batch writes nothing.
      await store.saveDesired([]);
      expect(store.stats().writes).to.equal(before + 1);
    });

    it('saveDesired with a bad change changes nothing', async () => {
      const err = await rejection(store.saveDesired([desiredOf('ok1'), desiredOf('')]));
      expect((err as Error).message).to.contain('worker name');
      expect(store.listWorkers()).to.deep.equal([]);
    });

    it('a durable write carries pending status updates, so the coalesced write is not needed', async () => {
      await store.seedWorker(makeRecord('w1'));
      const before = store.stats().writes;
      store.saveStatus('w1', makeReconcileStatus({ phase: 'ShutDown' }));
      await store.seedWorker(makeRecord('w2'));
      expect(h.persisted()?.workers.w1?.status.phase).to.equal('ShutDown');
      await h.clock.advance(COALESCE_MS * 2);
      await store.flush();
      expect(store.stats().writes).to.equal(before + 1);
    });

    it('flush resolves once pending status updates are persisted, without waiting for the window', async () => {
      await store.seedWorker(makeRecord('w1'));
      store.saveStatus('w1', makeReconcileStatus({ phase: 'ShutDown' }));
      await store.flush();
      expect(h.persisted()?.workers.w1?.status.phase).to.equal('ShutDown');
      const writes = store.stats().writes;
      await store.flush();
      expect(store.stats().writes).to.equal(writes);
    });

    it(`bounds history to the newest ${HISTORY_LIMIT} entries on seedWorker and appendHistory`, async () => {
      const long = makeHistory(HISTORY_LIMIT + 7);
      await store.seedWorker(makeRecord('w1', { status: makeStatus({ history: long }) }));
      let history = store.getWorker('w1')!.status.history;
      expect(history).to.have.length(HISTORY_LIMIT);
      expect(history[0]).to.deep.equal(long[7]);
      expect(history.at(-1)).to.deep.equal(long.at(-1));
      store.appendHistory('w1', makeHistory(HISTORY_LIMIT * 2));
      await store.flush();
      history = h.persisted()!.workers.w1!.history;
      expect(history).to.have.length(HISTORY_LIMIT);
      expect(history.at(-1)!.action).to.equal(`action ${HISTORY_LIMIT * 2 - 1}`);
    });

    it('masks secret-looking text in status and records before persisting (invariant 5)', async () => {
      const status = makeStatus({
        lastError: `request failed: Authorization: ${TOKEN_TEXT}`,
        conditions: [
          {
            type: 'Degraded',
            status: 'True',
            reason: 'ProxyFailed',
            message: 'proxy http://user:hunter2@proxy.lan:3128 refused',
            lastTransitionTime: '2026-01-01T00:00:00Z',
          },
        ],
        history: [{ time: 't', action: 'update failed', cause: 'password=hunter2' }],
      });
      await store.seedWorker(makeRecord('w1', { status }));
      const reconciled = makeReconcileStatus({ lastError: status.lastError, conditions: status.conditions });
      store.saveStatus('w2-missing', reconciled);
      store.saveStatus('w1', { ...reconciled, phase: 'ShutDown' }, status.history);
      await store.setMeta('note', { text: `Bearer abc.def.ghi` });
      await store.flush();
      const disk = JSON.stringify(h.persisted());
      const mem = JSON.stringify(store.getWorker('w1'));
      for (const text of [disk, mem]) {
        expect(text).not.to.contain('0b1c2d3e');
        expect(text).not.to.contain('hunter2');
        expect(text).not.to.contain('abc.def.ghi');
      }
      // A spec's passwordFile is a path, not a secret: kept as is.
      expect(store.getWorker('w1')!.spec.updates.proxy!.passwordFile).to.equal('/etc/wc/proxy-pass');
      expect(store.getWorker('w1')!.status.lastError).to.contain('PVEAPIToken=root@pam!ci=***');
    });

    it('keeps intents, task ids and token ids intact (redaction touches only secrets)', async () => {
      const rec = makeRecord('w1', {
        vmid: 131,
        node: 'pve2',
        uid: '7d5c2b8e-36a1-4bfa-9d0c-6b1f3c2a9e10',
        intent: {
          op: 'clone',
          node: 'pve2',
          vmid: 131,
          upid: 'UPID:pve2:0000ABCD:00A1B2C3:6789ABCD:qmclone:100:root@pam!workerctl:',
          startedAt: '2026-01-01T00:00:00.000Z',
        },
        status: makeStatus({ lastError: 'token root@pam!workerctl lacks VM.Clone on /vms/100' }),
      });
      await store.seedWorker(rec);
      expect(store.getWorker('w1')).to.deep.equal(composeRecord(splitRecord(rec)));
      expect(store.getWorker('w1')!.intent).to.deep.equal(rec.intent);
      expect(h.persisted()!.workers.w1).to.deep.equal(splitRecord(rec));
    });

    it('drops a status update for a worker that is not in the store', async () => {
      const writes = store.stats().writes;
      store.saveStatus('ghost', makeReconcileStatus());
      await h.clock.advance(COALESCE_MS * 2);
      await store.flush();
      expect(store.getWorker('ghost')).to.equal(undefined);
      expect(store.stats().writes).to.equal(writes);
    });

    it('deleteWorker removes the record durably', async () => {
      await store.seedWorker(makeRecord('w1'));
      await store.seedWorker(makeRecord('w2'));
      await store.deleteWorker('w1');
      expect(store.getWorker('w1')).to.equal(undefined);
      expect(Object.keys(h.persisted()!.workers)).to.deep.equal(['w2']);
      await store.deleteWorker('never-there');
    });

    it('keeps sessions: save, get, list in creation order, delete', async () => {
      await store.saveSession(makeSession('s2', { createdAt: '2026-01-01T00:00:02.000Z' }));
      await store.saveSession(makeSession('s1', { createdAt: '2026-01-01T00:00:01.000Z' }));
      await store.saveSession(makeSession('s0', { createdAt: '2026-01-01T00:00:02.000Z' }));
      expect(store.listSessions().map((s) => s.id)).to.deep.equal(['s1', 's0', 's2']);
      expect(store.getSession('s1')).to.deep.equal(
        makeSession('s1', { createdAt: '2026-01-01T00:00:01.000Z' }),
      );
      await store.deleteSession('s1');
      expect(store.getSession('s1')).to.equal(undefined);
      expect(Object.keys(h.persisted()!.sessions).sort()).to.deep.equal(['s0', 's2']);
    });

    it('keeps meta values; setting undefined removes the key', async () => {
      await store.setMeta('lastObservation', { at: '2026-01-01T00:00:00Z', vms: 3 });
      expect(store.getMeta('lastObservation')).to.deep.equal({ at: '2026-01-01T00:00:00Z', vms: 3 });
      expect(h.persisted()!.meta.lastObservation).to.deep.equal({ at: '2026-01-01T00:00:00Z', vms: 3 });
      await store.setMeta('lastObservation', undefined);
      expect(store.getMeta('lastObservation')).to.equal(undefined);
      expect(h.persisted()!.meta).to.deep.equal({});
    });

    it('refuses records without a key', async () => {
      const err = await rejection(store.seedWorker(makeRecord('')));
      expect((err as Error).message).to.contain('worker name');
      await rejection(store.saveSession(makeSession('')));
      expect(store.listWorkers()).to.deep.equal([]);
    });

    it('close flushes pending status updates; a reopened store sees all data', async () => {
      await store.seedWorker(makeRecord('w1'));
      await store.saveSession(makeSession('s1'));
      await store.setMeta('k', 7);
      store.saveStatus('w1', makeReconcileStatus({ phase: 'ShutDown', observedGeneration: 3 }));
      store.saveLifecycle('w1', { phase: 'Working', sessions: ['s1'] });
      await store.close();
      expect(() => store.getWorker('w1')).to.throw(StoreClosedError, 'closed');
      await rejection(store.seedWorker(makeRecord('w9')));
      store = h.create();
      await store.open();
      expect(store.getWorker('w1')!.status).to.deep.equal(
        makeStatus({ phase: 'Working', sessions: ['s1'], observedGeneration: 3 }),
      );
      expect(store.getSession('s1')).to.deep.equal(makeSession('s1'));
      expect(store.getMeta('k')).to.equal(7);
    });

    it('the same store object can be opened again after close, and still coalesces', async () => {
      await store.seedWorker(makeRecord('w1'));
      await store.close();
      await store.open();
      const writes = store.stats().writes;
      store.saveStatus('w1', makeReconcileStatus({ phase: 'Configured' }));
      store.saveStatus('w1', makeReconcileStatus({ phase: 'ShutDown' }));
      await h.clock.advance(COALESCE_MS);
      // No flush: the coalescing timer alone must write.
      for (let i = 0; i < 200 && store.stats().writes === writes; i++)
        await new Promise((r) => setTimeout(r, 5));
      expect(store.stats().writes).to.equal(writes + 1);
      expect(h.persisted()!.workers.w1!.status.phase).to.equal('ShutDown');
    });

    it('a store that is not open refuses reads', () => {
      const fresh = h.create({ readOnly: true });
      expect(() => fresh.listWorkers()).to.throw(StoreClosedError, 'not open');
    });

    it('a read-only store reads everything and refuses every write', async () => {
      await store.seedWorker(makeRecord('w1'));
      await store.flush();
      const ro = h.create({ readOnly: true });
      await ro.open();
      try {
        expect(ro.getWorker('w1')).to.deep.equal(makeRecord('w1'));
        expect(await rejection(ro.seedWorker(makeRecord('w2')))).to.be.instanceOf(StoreReadOnlyError);
        expect(await rejection(ro.deleteWorker('w1'))).to.be.instanceOf(StoreReadOnlyError);
        expect(await rejection(ro.saveSession(makeSession('s1')))).to.be.instanceOf(StoreReadOnlyError);
        expect(await rejection(ro.setMeta('k', 1))).to.be.instanceOf(StoreReadOnlyError);
        expect(() => ro.saveStatus('w1', makeReconcileStatus())).to.throw(StoreReadOnlyError, 'read-only');
        expect(ro.stats().writes).to.equal(0);
      } finally {
        await ro.close();
      }
      expect(h.persisted()!.workers.w2).to.equal(undefined);
    });

    it('migrates a v0 database (no schemaVersion, workers and sessions as lists)', async () => {
      await store.close();
      const v0 = {
        workers: [
          { ...makeRecord('old-1'), status: { phase: 'ShutDown', conditions: [], observedGeneration: 1 } },
        ],
        sessions: [makeSession('s-old')],
      };
      const h2 = makeHarness();
      try {
        store = h2.create({ initial: v0 });
        await store.open();
        const rec = store.getWorker('old-1')!;
        expect(rec.status.history).to.deep.equal([]);
        expect(rec.status.sessions).to.deep.equal([]);
        expect(rec.status.phase).to.equal('ShutDown');
        expect(store.getSession('s-old')).to.deep.equal(makeSession('s-old'));
        await store.setMeta('touched', true);
        expect(h2.persisted()!.schemaVersion).to.equal(STORE_SCHEMA_VERSION);
      } finally {
        await store.close();
        await h2.cleanup();
      }
    });

    it('migrates a v1 database (one flat record per worker) into sections, nothing lost', async () => {
      await store.close();
      const working = makeRecord('w-busy', {
        vmid: 140,
        node: 'pve2',
        wantDeployed: true,
        deployed: { template: 'worker-template', storage: 'local-lvm', host: 'pve2' },
        status: makeStatus({
          phase: 'Working',
          sessions: ['s-1'],
          observedGeneration: 1,
          history: makeHistory(3),
          lastTest: { time: 't', ok: true, checks: [] },
        }),
      });
      const v1 = {
        schemaVersion: 1,
        workers: { 'w-busy': working, 'w-idle': makeRecord('w-idle') },
        sessions: { 's-1': makeSession('s-1', { worker: 'w-busy' }) },
        meta: { k: 1 },
      };
      const h2 = makeHarness();
      try {
        store = h2.create({ initial: v1 });
        await store.open();
        const rec = store.getWorker('w-busy')!;
        expect(rec).to.include({ vmid: 140, node: 'pve2', wantDeployed: true });
        expect(rec.status).to.include({ phase: 'Working', observedGeneration: 1 });
        expect(rec.status.sessions).to.deep.equal(['s-1']);
        expect(rec.status.history).to.deep.equal(makeHistory(3));
        expect(rec.status.lastTest?.ok).to.equal(true);
        const sections = store.getSections('w-busy')!;
        expect(sections.status.phase).to.equal('ShutDown');
        expect(sections.lifecycle.phase).to.equal('Working');
        expect(store.getWorker('w-idle')!.status.phase).to.equal('Configured');
        expect(store.getMeta('k')).to.equal(1);
      } finally {
        await store.close();
        await h2.cleanup();
      }
    });

    it('refuses a database written by a newer version', async () => {
      await store.close();
      const h2 = makeHarness();
      try {
        store = h2.create({
          initial: { schemaVersion: STORE_SCHEMA_VERSION + 1, workers: {}, sessions: {}, meta: {} },
        });
        const err = await rejection(store.open());
        expect(err).to.be.instanceOf(StoreCorruptError);
        expect((err as Error).message).to.contain('newer workerctl');
      } finally {
        await h2.cleanup();
      }
    });
  });
}
