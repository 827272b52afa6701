import { expect } from 'chai';
import { computeStatus, setCondition } from '../../controller/reconcile/status.js';
import { KeyedSemaphore, OperationSlots } from '../../controller/reconcile/execute/slots.js';
import { systemClock } from '../../controller/clock.js';
import { silentLogger } from '../../controller/log.js';
import type { ProxmoxClient } from '../../controller/proxmox/client.js';
import { desiredOf, Intake } from '../../controller/reconcile/intake.js';
import type { Reconciler } from '../../controller/reconcile/reconciler.js';
import { makeSettings } from '../../controller/reconcile/settings.js';
import { WorkerRun } from '../../controller/reconcile/worker-run.js';
import { MemoryStore } from '../../controller/store/memory-store.js';
import { composeRecord, splitRecord } from '../../controller/store/sections.js';
import { deployed, eagerSpec as spec, loadOf } from '../helpers/builders.js';

describe('status', () => {
  it('moves lastTransitionTime only when a condition flips', () => {
    let c = setCondition([], 'Ready', 'True', 'Converged', 'ok', 't1');
    c = setCondition(c, 'Ready', 'True', 'Converged', 'still ok', 't2');
    expect(c[0]).to.include({ lastTransitionTime: 't1', message: 'still ok' });
    c = setCondition(c, 'Ready', 'False', 'Waiting', 'x', 't3');
    expect(c[0]!.lastTransitionTime).to.equal('t3');
  });

  it('sets observedGeneration only when Ready; its phase rests, a lifecycle phase shows over it', () => {
    const rec = deployed(spec('w1'), 101, { generation: 3 });
    rec.status.phase = 'Working';
    const sections = splitRecord(rec);
    const prev = sections.status;
    const waiting = computeStatus(
      rec,
      {
        deployed: true,
        history: [],
        pending: [
          {
            worker: 'w1',
            kind: 'wait',
            class: 'restart',
            reason: 'cpus',
            changes: [],
            blockedBy: 'sessions',
          },
        ],
      },
      't',
      prev,
    );
    expect(waiting.observedGeneration).to.equal(1);
    expect(waiting.phase).to.equal('ShutDown');
    expect(composeRecord({ ...sections, status: waiting }).status.phase).to.equal('Working');
    const ready = computeStatus(rec, { deployed: true, history: [], pending: [] }, 't', prev);
    expect(ready.observedGeneration).to.equal(3);
    expect(composeRecord({ ...sections, status: ready }).status.phase).to.equal('Working');
    expect(composeRecord({ ...sections, lifecycle: { sessions: [] }, status: ready }).status.phase).to.equal(
      'ShutDown',
    );
    const failed = computeStatus(
      rec,
      {
        deployed: false,
        history: [],
        pending: [],
        error: { message: 'boom', terminal: true, reason: 'Terminal' },
      },
      't',
      prev,
    );
    expect(failed.phase).to.equal('Configured');
    expect(failed.lastError).to.equal('boom');
    expect(failed.conditions.map((c) => [c.type, c.status])).to.deep.equal([
      ['Ready', 'False'],
      ['Reconciling', 'False'],
      ['Degraded', 'True'],
    ]);
  });

  it('a reconcile writes only the inventory: the lifecycle fields and a spec written meanwhile stay', async () => {
    const store = new MemoryStore();
    await store.open();
    await store.seedWorker(deployed(spec('w1'), 101));
    const run = new WorkerRun(store.getWorker('w1')!, store, systemClock, silentLogger());
    // Meanwhile: the intake writes a new spec, the lifecycle opens a session.
    await store.saveDesired([
      { name: 'w1', desired: { ...desiredOf(run.rec), spec: spec('w1', { cpus: 9 }), generation: 2 } },
    ]);
    store.saveLifecycle('w1', { phase: 'Working', sessions: ['s1'], wantDeployed: true });
    run.rec.intent = { op: 'configure', node: 'pve1', vmid: 101, startedAt: 't' };
    await run.persist();
    const m = run.refresh();
    expect(m.spec.cpus).to.equal(9);
    expect(m.generation).to.equal(2);
    expect(m.wantDeployed).to.equal(true);
    expect(m.status.sessions).to.deep.equal(['s1']);
    expect(m.status.phase).to.equal('Working');
    expect(m.intent?.op).to.equal('configure');
    expect(store.getWorker('w1')!.intent?.op).to.equal('configure');
  });
});

describe('applyDesired racing a reconcile', () => {
  it('never loses an intent or vmid saved after the snapshot the merge was computed from (invariant 4)', async () => {
    const store = new MemoryStore();
    await store.open();
    const intake = new Intake(
      {
        client: {} as ProxmoxClient,
        store,
        logger: silentLogger(),
        clock: systemClock,
        settings: makeSettings(),
      },
      { plan: async () => ({ actions: [], converged: true }) } as unknown as Reconciler,
    );
    await intake.applyDesired(loadOf([spec('w1')]));
    // The executor reserves a vmid with its clone intent, then the manifest changes.
    await store.saveInventory('w1', {
      vmid: 102,
      node: 'pve1',
      intent: { op: 'clone', node: 'pve1', vmid: 102, startedAt: 't' },
    });
    await intake.applyDesired(loadOf([spec('w1', { cpus: 9 })]));
    const saved = store.getWorker('w1')!;
    expect(saved.intent?.vmid).to.equal(102);
    expect(saved.vmid).to.equal(102);
    expect(saved.spec.cpus).to.equal(9);
    expect(saved.generation).to.equal(2);
    expect(saved.status.history.map((e) => e.action)).to.deep.equal(['added', 'spec changed']);
  });
});

describe('slots', () => {
  it('limits holders per key and wakes waiters in order', async () => {
    const s = new KeyedSemaphore(2);
    const r1 = await s.acquire('pve1');
    const r2 = await s.acquire('pve1');
    const other = await s.acquire('pve2');
    let third = false;
    const p = s.acquire('pve1').then((r) => {
      third = true;
      return r;
    });
    await new Promise((r) => setImmediate(r));
    expect(third).to.equal(false);
    expect(s.queued('pve1')).to.equal(1);
    r1();
    r1(); // releasing twice is harmless
    (await p)();
    expect(third).to.equal(true);
    r2();
    other();
    expect(s.inUse('pve1')).to.equal(0);
  });

  it('a waiter that is aborted gives up its place', async () => {
    const s = new KeyedSemaphore(1);
    const r = await s.acquire('x');
    const ac = new AbortController();
    const p = s.acquire('x', ac.signal);
    ac.abort(new Error('stop'));
    let err: unknown;
    await p.catch((e: unknown) => (err = e));
    expect(String(err)).to.contain('stop');
    r();
    expect(s.inUse('x')).to.equal(0);
    (await s.acquire('x'))();
  });

  it('clones take a clone slot per storage as well as node and storage slots (shared storage: one pool)', async () => {
    const slots = new OperationSlots({ perNode: 4, perStorage: 4, clonesPerStorage: 1 });
    const a = await slots.acquire({ node: 'pve1', storage: 'cephpool', shared: true, clone: true });
    let second = false;
    const p = slots.acquire({ node: 'pve2', storage: 'cephpool', shared: true, clone: true }).then((r) => {
      second = true;
      return r;
    });
    const resize = await slots.acquire({ node: 'pve1', storage: 'cephpool', shared: true });
    await new Promise((r) => setImmediate(r));
    expect(second).to.equal(false);
    a();
    (await p)();
    resize();
    expect(slots.node.inUse('pve1')).to.equal(0);
    expect(slots.storage.inUse('cephpool')).to.equal(0);
  });
});
