import { expect } from 'chai';
import { computeStatus, setCondition } from '../../controller/reconcile/status.js';
import { KeyedSemaphore, OperationSlots } from '../../controller/reconcile/execute/slots.js';
import { mergeRecord, withDesiredFields } from '../../controller/reconcile/worker-run.js';
import { deployed, spec } from './fixtures.js';

describe('status', () => {
  it('moves lastTransitionTime only when a condition flips', () => {
    let c = setCondition([], 'Ready', 'True', 'Converged', 'ok', 't1');
    c = setCondition(c, 'Ready', 'True', 'Converged', 'still ok', 't2');
    expect(c[0]).to.include({ lastTransitionTime: 't1', message: 'still ok' });
    c = setCondition(c, 'Ready', 'False', 'Waiting', 'x', 't3');
    expect(c[0]!.lastTransitionTime).to.equal('t3');
  });

  it('sets observedGeneration only when Ready, and keeps lifecycle phases', () => {
    const rec = deployed(spec('w1'), 101, { generation: 3 });
    rec.status.phase = 'Working';
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
    );
    expect(waiting.observedGeneration).to.equal(1);
    expect(waiting.phase).to.equal('Working');
    const ready = computeStatus(rec, { deployed: true, history: [], pending: [] }, 't');
    expect(ready.observedGeneration).to.equal(3);
    expect(ready.phase).to.equal('Working');
    rec.status.phase = 'Configured';
    expect(computeStatus(rec, { deployed: true, history: [], pending: [] }, 't').phase).to.equal('ShutDown');
    const failed = computeStatus(
      rec,
      {
        deployed: false,
        history: [],
        pending: [],
        error: { message: 'boom', terminal: true, reason: 'Terminal' },
      },
      't',
    );
    expect(failed.lastError).to.equal('boom');
    expect(failed.conditions.map((c) => [c.type, c.status])).to.deep.equal([
      ['Ready', 'False'],
      ['Reconciling', 'False'],
      ['Degraded', 'True'],
    ]);
  });

  it('a save during a reconcile keeps the lifecycle fields and the new spec written meanwhile', () => {
    const ours = deployed(spec('w1'), 101);
    ours.intent = { op: 'configure', node: 'pve1', vmid: 101, startedAt: 't' };
    const stored = deployed(spec('w1', { cpus: 9 }), 101, { generation: 2, wantDeployed: true });
    stored.status.sessions = ['s1'];
    stored.status.phase = 'Working';
    const m = mergeRecord(ours, stored);
    expect(m.spec.cpus).to.equal(9);
    expect(m.generation).to.equal(2);
    expect(m.wantDeployed).to.equal(true);
    expect(m.status.sessions).to.deep.equal(['s1']);
    expect(m.status.phase).to.equal('Working');
    expect(m.intent?.op).to.equal('configure');
  });
});

describe('applyDesired racing a reconcile', () => {
  it('never loses an intent or vmid saved after the snapshot the merge was computed from (invariant 4)', () => {
    const snapshot = deployed(spec('w1'), 101);
    delete snapshot.vmid;
    const stored = { ...snapshot, vmid: 102, node: 'pve1' };
    stored.intent = { op: 'clone', node: 'pve1', vmid: 102, startedAt: 't' };
    const next = {
      ...snapshot,
      spec: spec('w1', { cpus: 9 }),
      generation: 2,
      status: { ...snapshot.status, history: [{ time: 't', action: 'spec changed', cause: 'generation 2' }] },
    };
    const saved = withDesiredFields(next, snapshot, stored);
    expect(saved.intent?.vmid).to.equal(102);
    expect(saved.vmid).to.equal(102);
    expect(saved.spec.cpus).to.equal(9);
    expect(saved.generation).to.equal(2);
    expect(saved.status.history.map((e) => e.action)).to.deep.equal(['spec changed']);
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
