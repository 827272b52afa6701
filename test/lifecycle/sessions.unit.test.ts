import { expect } from 'chai';
import { NoWorkerAvailableError, UnknownSessionError } from '../../controller/lifecycle/errors.js';
import { EventBus, type LifecycleEvent } from '../../controller/lifecycle/events.js';
import { SessionManager } from '../../controller/lifecycle/sessions.js';
import { usedSlots } from '../../controller/lifecycle/selection.js';
import { MemoryStore } from '../../controller/store/memory-store.js';
import { harness, record, type Harness } from '../helpers/lifecycle-fakes.js';

function manager(h: Harness, events?: EventBus, onIdle?: (w: string) => void) {
  return new SessionManager({ ...h.deps, events, onIdle });
}

describe('lifecycle: sessions', () => {
  it('starts a session: deploys, powers on, tests, updates, phase Working; answers worker, address, id', async () => {
    const h = await harness([record('w1')]);
    const m = manager(h);
    const g = await m.start({ host: 'pve1', tasks: 2 });
    expect(g.worker).to.equal('w1');
    expect(g.fallback).to.equal(false);
    expect(g.address).to.equal('10.0.0.100');
    expect(g.session.id).to.match(/^s-[0-9a-f]{12}$/);
    expect(g.session.state).to.equal('ready');
    const rec = h.store.getWorker('w1')!;
    expect(rec.status.phase).to.equal('Working');
    expect(rec.status.sessions).to.deep.equal([g.session.id]);
    expect(rec.status.lastTest?.ok).to.equal(true);
    expect(h.power.running.has('w1')).to.equal(true);
  });

  it('serves two sessions on one worker and shuts it down only when the last one ends', async () => {
    const idle: string[] = [];
    const h = await harness([record('w1')]);
    const m = manager(h, undefined, (w) => idle.push(w));
    const [a, b] = await Promise.all([
      m.start({ host: 'pve1', tasks: 2 }),
      m.start({ host: 'pve1', tasks: 2 }),
    ]);
    expect(a.worker).to.equal('w1');
    expect(b.worker).to.equal('w1');
    expect(h.power.starts).to.equal(1);
    await m.end(a.session.id);
    expect(h.store.getWorker('w1')!.status.phase).to.equal('Working');
    expect(h.power.running.has('w1')).to.equal(true);
    await m.end(b.session.id, 'job done');
    const rec = h.store.getWorker('w1')!;
    expect(rec.status.phase).to.equal('ShutDown');
    expect(rec.status.sessions).to.deep.equal([]);
    expect(h.power.running.has('w1')).to.equal(false);
    expect(
      rec.status.history.some((e) => e.action === `session ${b.session.id} ended` && e.cause === 'job done'),
    ).to.equal(true);
    expect(idle).to.deep.equal(['w1']);
  });

  it('prefers the asked host and falls back to another host, recording the fallback', async () => {
    const h = await harness([
      record('a1', { host: 'pve1', maxConcurrentTasks: 2 }),
      record('b1', { host: 'pve2' }),
    ]);
    const m = manager(h);
    const first = await m.start({ host: 'pve1', tasks: 2 });
    expect(first.worker).to.equal('a1');
    const second = await m.start({ host: 'pve1', tasks: 1 });
    expect(second.worker).to.equal('b1');
    expect(second.fallback).to.equal(true);
    expect(second.session.fallback).to.equal(true);
    expect(
      h.store.getWorker('b1')!.status.history.some((e) => e.cause.includes('fallback: asked for pve1')),
    ).to.equal(true);
  });

  it('never picks a disabled worker; its running sessions continue', async () => {
    const h = await harness([record('w1')]);
    const m = manager(h);
    const g = await m.start({ host: 'pve1' });
    const rec = h.store.getWorker('w1')!;
    await h.store.seedWorker({ ...rec, spec: { ...rec.spec, enabled: false } });
    let err: unknown;
    await m.start({ host: 'pve1', waitMs: 0 }).catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(NoWorkerAvailableError);
    expect((err as Error).message).to.contain('w1: disabled');
    expect(m.get(g.session.id).state).to.equal('ready');
    expect(h.store.getWorker('w1')!.status.phase).to.equal('Working');
  });

  it('with no usable worker, fails with the reason after waiting up to the limit', async () => {
    const h = await harness([record('w1', { maxConcurrentTasks: 2 })]);
    const m = manager(h);
    await m.start({ host: 'pve1', tasks: 2 });
    const t0 = h.clock.now();
    let err: unknown;
    await m.start({ host: 'pve1', waitMs: 5_000 }).catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(NoWorkerAvailableError);
    expect((err as Error).message).to.equal(
      'no usable worker for host pve1: no enabled worker has 1 free task slot(s): w1: 0 of 2 task slots free',
    );
    expect(h.clock.now() - t0).to.be.within(5_000, 6_000);
  });

  it('a waiting request gets the worker as soon as a session ends', async () => {
    const h = await harness([record('w1', { maxConcurrentTasks: 1 })]);
    const m = manager(h);
    const a = await m.start({ host: 'pve1' });
    const waiting = m.start({ host: 'pve1', waitMs: 600_000 });
    await new Promise((r) => setTimeout(r, 5));
    await m.end(a.session.id);
    const b = await waiting;
    expect(b.worker).to.equal('w1');
    expect(h.store.getWorker('w1')!.status.phase).to.equal('Working');
  });

  it('a worker whose test fails is released and the next worker is tried', async () => {
    const h = await harness([record('a1'), record('a2')]);
    h.power.failDeploy.add('a1');
    const m = manager(h);
    const g = await m.start({ host: 'pve1' });
    expect(g.worker).to.equal('a2');
    const a1 = h.store.getWorker('a1')!;
    expect(a1.status.sessions).to.deep.equal([]);
    expect(a1.status.conditions.find((c) => c.type === 'Degraded')?.status).to.equal('True');
    expect(h.store.listSessions().map((s) => s.worker)).to.deep.equal(['a2']);
  });

  it('fails with each tried worker when every test fails', async () => {
    const h = await harness([record('a1')]);
    h.guest.execRules.push([/ping .* pve1$/, 1, 'unreachable']);
    const m = manager(h);
    let err: unknown;
    await m.start({ host: 'pve1', waitMs: 0 }).catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(NoWorkerAvailableError);
    expect((err as Error).message).to.contain('a1: failed its test for this request');
    expect((err as Error).message).to.contain('tried: a1: test failed at proxmox-host');
    expect(h.store.getWorker('a1')!.status.phase).to.equal('ShutDown');
    expect(h.store.listSessions()).to.deep.equal([]);
  });

  it('gives up after sessionMaxAttempts failed bring-ups instead of testing the whole fleet', async () => {
    const h = await harness(
      ['a1', 'a2', 'a3', 'a4'].map((n) => record(n)),
      { sessionMaxAttempts: 2 },
    );
    h.guest.execRules.push([/ping .* vbr\.lan$/, 1, 'unreachable']);
    const m = manager(h);
    let err: unknown;
    await m.start({ host: 'pve1', waitMs: 60_000 }).catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(NoWorkerAvailableError);
    expect((err as Error).message).to.match(
      /^no usable worker for host pve1: 2 worker\(s\) failed their test: a1: test failed at backup-server/,
    );
    const tested = h.store
      .listWorkers()
      .filter((w) => w.status.lastTest)
      .map((w) => w.name);
    expect(tested).to.deep.equal(['a1', 'a2']);
  });

  it('a job that dies: its lease expires, the session ends and the worker shuts down', async () => {
    const h = await harness([record('w1')]);
    const events: LifecycleEvent[] = [];
    const bus = new EventBus();
    bus.subscribe((e) => events.push(e));
    const m = manager(h, bus);
    const g = await m.start({ host: 'pve1', leaseMs: 60_000 });
    await h.clock.advance(30_000);
    expect(await m.expireLeases()).to.deep.equal([]);
    await m.renew(g.session.id);
    await h.clock.advance(59_000);
    expect(await m.expireLeases()).to.deep.equal([]);
    await h.clock.advance(2_000);
    expect(await m.expireLeases()).to.deep.equal([g.session.id]);
    expect(h.store.getWorker('w1')!.status.phase).to.equal('ShutDown');
    expect(h.power.running.size).to.equal(0);
    let err: unknown;
    try {
      m.get(g.session.id);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(UnknownSessionError);
    expect((err as Error).message).to.match(/ended at .*: lease expired/);
    expect(
      events.some(
        (e) => e.type === 'session' && e.state === 'ended' && e.reason?.startsWith('lease expired'),
      ),
    ).to.equal(true);
  });

  it('sessions survive a controller restart; a session still starting is ended', async () => {
    const h = await harness([record('w1'), record('w2', { host: 'pve2' })]);
    const m1 = manager(h);
    const g = await m1.start({ host: 'pve1', leaseMs: 120_000 });
    // A second request was booked on w2 when the controller died.
    const w2 = h.store.getWorker('w2')!;
    await h.store.saveSession({
      ...g.session,
      id: 's-dead',
      worker: 'w2',
      state: 'starting',
      address: undefined,
    });
    await h.store.seedWorker({ ...w2, status: { ...w2.status, phase: 'Testing', sessions: ['s-dead'] } });
    await h.store.close();

    const store2 = new MemoryStore({ clock: h.clock, volume: h.store.volume });
    await store2.open();
    const m2 = new SessionManager({ ...h.deps, store: store2 });
    h.power['store'] = store2;
    await m2.restore();
    expect(m2.list().map((s) => s.id)).to.deep.equal([g.session.id]);
    expect(store2.getWorker('w1')!.status.phase).to.equal('Working');
    expect(store2.getWorker('w2')!.status.sessions).to.deep.equal([]);
    expect(store2.getWorker('w2')!.status.phase).to.equal('Configured');
    // The lease keeps running from where it was.
    await h.clock.advance(121_000);
    expect(await m2.expireLeases()).to.deep.equal([g.session.id]);
    expect(store2.getWorker('w1')!.status.phase).to.equal('ShutDown');
  });

  it('validates requests and names the parameter', async () => {
    const h = await harness([record('w1')]);
    const m = manager(h);
    for (const [req, param] of [
      [{ host: '' }, 'host'],
      [{ host: 'pve1', tasks: 0 }, 'tasks'],
      [{ host: 'pve1', kind: 'copy' }, 'kind'],
      [{ host: 'pve1', leaseMs: 10 }, 'lease'],
    ] as const) {
      let err: { param?: string } | undefined;
      await m.start(req as never).catch((e: { param?: string }) => (err = e));
      expect(err?.param).to.equal(param);
    }
  });

  it('200 concurrent requests over 20 workers: none lost, none booked beyond maxConcurrentTasks', async () => {
    const workers = Array.from({ length: 20 }, (_, i) =>
      record(`w${String(i).padStart(2, '0')}`, { host: `pve${i % 4}`, maxConcurrentTasks: 4 }),
    );
    const h = await harness(workers);
    const m = manager(h);
    let maxSeen = 0;
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, async (_, i) => {
        const g = await m.start({ host: `pve${i % 4}`, tasks: 1 + (i % 2), waitMs: 0 });
        for (const [w, used] of usedSlots(h.store.listSessions())) {
          maxSeen = Math.max(maxSeen, used);
          expect(used, w).to.be.at.most(4);
        }
        return g;
      }),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r) => r.status === 'rejected');
    // 20 workers x 4 slots, requests of 1 and 2 tasks: every slot can be used.
    const booked = [...usedSlots(h.store.listSessions()).values()].reduce((a, b) => a + b, 0);
    expect(booked).to.be.at.most(80);
    expect(ok.length + failed.length).to.equal(200);
    for (const f of failed)
      expect((f as PromiseRejectedResult).reason).to.be.instanceOf(NoWorkerAvailableError);
    expect(h.store.listSessions().length).to.equal(ok.length);
    expect(maxSeen).to.equal(4);
    for (const w of h.store.listWorkers()) {
      const sessions = h.store.listSessions().filter((s) => s.worker === w.name);
      expect(w.status.sessions.sort()).to.deep.equal(sessions.map((s) => s.id).sort());
    }
  });
});
