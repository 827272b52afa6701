/**
 * Every lifecycle path against the simulator over HTTP, through the controller's API: sessions
 * (deploy on demand, two on one worker, fallback, no usable worker, lease expiry, restart in the
 * middle), tests failing at each check, disable, updates off, Eager vs OnDemand, WhenIdle and
 * Immediate edits, removal deferred while Working.
 */
import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { SessionRecord, TestResult } from '../../controller/types.js';
import { eventually } from '../helpers/eventually.js';
import { LifecycleEnv } from '../helpers/lifecycle-env.js';
import { onDemandYaml as workerYaml } from '../helpers/manifests.js';

interface Grant {
  session: SessionRecord & { state: string };
  worker: string;
  address?: string;
  fallback: boolean;
}

describe('lifecycle end to end (simulator over HTTP, controller API)', function () {
  this.timeout(30_000);
  let env: LifecycleEnv;
  /** Earlier controllers of a restart test: disposed after the current one. */
  let earlier: LifecycleEnv[] = [];

  afterEach(async () => {
    await env?.dispose();
    for (const e of earlier.reverse()) await e.dispose();
    earlier = [];
  });

  async function startWith(
    files: Record<string, string>,
    opts: ConstructorParameters<typeof LifecycleEnv>[0] = {},
  ) {
    env = new LifecycleEnv(opts);
    for (const [f, t] of Object.entries(files)) env.write(f, t);
    await env.start();
    await env.converged();
    return env;
  }

  const start = (body: Record<string, unknown>) => env.http<Grant>('POST', '/v1/sessions', body);
  const end = (id: string, reason?: string) =>
    env.http('DELETE', `/v1/sessions/${id}${reason ? `?reason=${encodeURIComponent(reason)}` : ''}`);

  it('session on an OnDemand worker: deployed, powered on, tested, updated, Working; end shuts it down', async () => {
    await startWith({ 'w.yaml': workerYaml('od-1') });
    expect(env.record('od-1')!.vmid).to.equal(undefined);
    const res = await start({ host: 'pve1', tasks: 2, kind: 'restore', lease: '10m' });
    expect(res.status).to.equal(201);
    expect(res.body.worker).to.equal('od-1');
    expect(res.body.address).to.match(/^10\.0\.0\.\d+$/);
    expect(res.body.session.state).to.equal('ready');
    expect(res.headers.get('location')).to.equal(`/v1/sessions/${res.body.session.id}`);
    expect(env.vm('od-1')?.status).to.equal('running');
    const w = await env.http<{ phase: string; lastTest: TestResult; history: { action: string }[] }>(
      'GET',
      '/v1/workers/od-1',
    );
    expect(w.body.phase).to.equal('Working');
    expect(w.body.lastTest.checks.map((c) => c.name)).to.deep.equal([
      'agent',
      'network',
      'proxmox-host',
      'backup-server',
      'updates',
    ]);
    expect((await end(res.body.session.id, 'job finished')).status).to.equal(200);
    expect(env.record('od-1')!.status.phase).to.equal('ShutDown');
    expect(env.vm('od-1')?.status).to.equal('stopped');
    const phases = env
      .record('od-1')!
      .status.history.filter((h) => h.action.startsWith('phase'))
      .map((h) => h.action);
    expect(phases).to.deep.equal([
      'phase Configured -> Testing',
      'phase Testing -> Updating',
      'phase Updating -> Working',
      'phase Working -> ShutDown',
    ]);
  });

  it('two sessions on one worker; the worker stops only after the second ends', async () => {
    await startWith({ 'w.yaml': workerYaml('dual', { deploy: 'Eager', maxConcurrentTasks: 4 }) });
    const [a, b] = await Promise.all([start({ host: 'pve1', tasks: 2 }), start({ host: 'pve1', tasks: 2 })]);
    expect([a.status, b.status]).to.deep.equal([201, 201]);
    expect(a.body.worker).to.equal('dual');
    expect(b.body.worker).to.equal('dual');
    const third = await start({ host: 'pve1', tasks: 1 });
    expect(third.status).to.equal(503);
    expect((third.body as unknown as { error: { message: string } }).error.message).to.contain(
      'dual: 0 of 4 task slots free',
    );
    await end(a.body.session.id);
    expect(env.vm('dual')?.status).to.equal('running');
    expect(env.record('dual')!.status.phase).to.equal('Working');
    await end(b.body.session.id);
    expect(env.vm('dual')?.status).to.equal('stopped');
    expect(env.record('dual')!.status.phase).to.equal('ShutDown');
  });

  it('falls back to a worker on another host and says so', async () => {
    await startWith({
      'a.yaml': workerYaml('on-pve1', { deploy: 'Eager', enabled: false }),
      'b.yaml': workerYaml('on-pve2', { host: 'pve2', deploy: 'Eager' }),
    });
    const res = await start({ host: 'pve1' });
    expect(res.status).to.equal(201);
    expect(res.body.worker).to.equal('on-pve2');
    expect(res.body.fallback).to.equal(true);
    const list = await env.http<{ sessions: SessionRecord[] }>('GET', '/v1/sessions');
    expect(list.body.sessions.map((s) => [s.worker, s.fallback])).to.deep.equal([['on-pve2', true]]);
  });

  it('no usable worker: waits up to the limit, then 503 with the reason', async () => {
    await startWith({ 'a.yaml': workerYaml('off', { enabled: false }) });
    const t0 = Date.now();
    const res = await start({ host: 'pve1', wait: '300ms' });
    expect(Date.now() - t0).to.be.at.least(280);
    expect(res.status).to.equal(503);
    expect(res.body).to.deep.equal({
      error: {
        code: 'no_worker_available',
        message: 'no usable worker for host pve1: no enabled worker has 1 free task slot(s): off: disabled',
      },
    });
  });

  it('a job that dies: its lease expires, the session ends and the worker shuts down', async () => {
    await startWith({ 'w.yaml': workerYaml('leased', { deploy: 'Eager' }) });
    const res = await start({ host: 'pve1', lease: 1.5 });
    expect(res.status).to.equal(201);
    const id = res.body.session.id;
    // Renewed once, then the job "dies".
    await new Promise((r) => setTimeout(r, 800));
    expect((await env.http('POST', `/v1/sessions/${id}/renew`, {})).status).to.equal(200);
    await new Promise((r) => setTimeout(r, 800));
    expect((await env.http('GET', `/v1/sessions/${id}`)).status).to.equal(200);
    await eventually(
      () => env.record('leased')!.status.phase === 'ShutDown' || env.record('leased')!.status.phase,
      5000,
    );
    expect(env.vm('leased')?.status).to.equal('stopped');
    const gone = await env.http<{ error: { message: string } }>('GET', `/v1/sessions/${id}`);
    expect(gone.status).to.equal(404);
    expect(gone.body.error.message).to.match(/lease expired/);
  });

  it('a controller restart in the middle of a session: the session and the running worker survive', async () => {
    await startWith({ 'w.yaml': workerYaml('durable', { deploy: 'Eager' }) });
    const res = await start({ host: 'pve1', lease: '10m' });
    const id = res.body.session.id;
    await env.stop();
    const again = new LifecycleEnv({ sim: env.sim, dirs: { manifests: env.manifests, state: env.state } });
    earlier.push(env);
    env = again;
    {
      await env.start();
      const s = await env.http<SessionRecord & { state: string }>('GET', `/v1/sessions/${id}`);
      expect(s.status).to.equal(200);
      expect(s.body.state).to.equal('ready');
      expect(env.record('durable')!.status.phase).to.equal('Working');
      expect(env.vm('durable')?.status).to.equal('running');
      await env.converged();
      expect(env.vm('durable')?.status).to.equal('running');
      expect((await end(id)).status).to.equal(200);
      expect(env.vm('durable')?.status).to.equal('stopped');
    }
  });

  it('events: the stream shows each phase change with its cause and the session states', async () => {
    await startWith({ 'w.yaml': workerYaml('evt', { deploy: 'Eager' }) });
    const ac = new AbortController();
    const res = await fetch(env.url + '/v1/events', { signal: ac.signal });
    expect(res.headers.get('content-type')).to.match(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const events: Record<string, unknown>[] = [];
    let buffer = '';
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        buffer += new TextDecoder().decode(value);
        const parts = buffer.split('\n\n');
        buffer = parts.pop()!;
        for (const p of parts) {
          const data = p.split('\n').find((l) => l.startsWith('data: '));
          if (data) events.push(JSON.parse(data.slice(6)) as Record<string, unknown>);
        }
      }
    })();
    const g = await start({ host: 'pve1' });
    await end(g.body.session.id, 'done');
    await eventually(() =>
      events.some((e) => e.type === 'worker' && e.phase === 'ShutDown' && e.previousPhase === 'Working'),
    );
    ac.abort();
    await reading;
    const phases = events
      .filter((e) => e.type === 'worker' && e.previousPhase)
      .map((e) => `${String(e.previousPhase)} -> ${String(e.phase)}`);
    expect(phases).to.deep.equal([
      'ShutDown -> Testing',
      'Testing -> Updating',
      'Updating -> Working',
      'Working -> ShutDown',
    ]);
    expect(events.filter((e) => e.type === 'session').map((e) => e.state)).to.deep.equal([
      'starting',
      'ready',
      'ended',
    ]);
    expect(events.find((e) => e.type === 'session' && e.state === 'ended')!.reason).to.equal('done');
  });

  it('Immediate removal while Working: the sessions end with the removal as reason, the VM is deleted', async () => {
    await startWith({
      'w.yaml': workerYaml('gone-now', { deploy: 'Eager', applyChanges: 'Immediate' }),
      'x.yaml': workerYaml('stays', { host: 'pve2', deploy: 'Eager' }),
    });
    const a = await start({ host: 'pve1' });
    expect(a.body.worker).to.equal('gone-now');
    const vmid = env.record('gone-now')!.vmid!;
    rmSync(join(env.manifests, 'w.yaml'));
    await eventually(() => env.record('gone-now') === undefined || 'still recorded', 10_000);
    expect(env.sim.sim.getVm(vmid)).to.equal(undefined);
    const gone = await env.http<{ error: { message: string } }>('GET', `/v1/sessions/${a.body.session.id}`);
    expect(gone.status).to.equal(404);
    expect(gone.body.error.message).to.contain('interrupted by an Immediate change');
  });

  it('100 concurrent requests over 10 workers over HTTP: all served, never beyond maxConcurrentTasks', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 10; i++) {
      files[`c${i}.yaml`] = workerYaml(`conc-${i}`, {
        host: `pve${(i % 3) + 1}`,
        maxConcurrentTasks: 3,
        deploy: 'Eager',
      });
    }
    await startWith(files, { settings: { sessionWaitMs: 30_000 } });
    let maxBooked = 0;
    const sample = () => {
      const used = new Map<string, number>();
      for (const s of env.store.listSessions()) used.set(s.worker, (used.get(s.worker) ?? 0) + s.tasks);
      for (const n of used.values()) maxBooked = Math.max(maxBooked, n);
    };
    const unsubscribe = env.lifecycle.events.subscribe(sample);
    const codes = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const res = await start({ host: `pve${(i % 3) + 1}`, tasks: 1 + (i % 2) });
        if (res.status === 201) {
          await new Promise((r) => setTimeout(r, 10));
          await end(res.body.session.id);
        }
        return res.status;
      }),
    );
    unsubscribe();
    expect(codes.filter((c) => c === 201)).to.have.length(100);
    expect(maxBooked).to.be.within(1, 3);
    expect(env.store.listSessions()).to.deep.equal([]);
  });

  describe('test through the API', () => {
    it('OnDemand: deploys, checks, updates, powers off; Eager: tests the deployed VM', async () => {
      await startWith({ 'a.yaml': workerYaml('t-od'), 'b.yaml': workerYaml('t-eager', { deploy: 'Eager' }) });
      const eagerVmid = env.record('t-eager')!.vmid;
      for (const name of ['t-od', 't-eager']) {
        const res = await env.http<{ result: TestResult }>('POST', `/v1/workers/${name}/test`);
        expect(res.status).to.equal(200);
        expect(res.body.result.ok, JSON.stringify(res.body)).to.equal(true);
        expect(env.record(name)!.status.phase).to.equal('ShutDown');
        expect(env.vm(name)?.status).to.equal('stopped');
      }
      expect(env.record('t-eager')!.vmid).to.equal(eagerVmid);
    });

    it('updates off: no update step', async () => {
      await startWith({ 'a.yaml': workerYaml('no-upd', { updates: { enabled: false } }) });
      const res = await env.http<{ result: TestResult }>('POST', '/v1/workers/no-upd/test');
      expect(res.body.result.ok).to.equal(true);
      expect(res.body.result.checks.map((c) => c.name)).to.not.include('updates');
      const calls = env.sim.sim
        .callLog()
        .filter((c) => c.endpoint.includes('agent/exec') && JSON.stringify(c.params).includes('dnf'));
      expect(calls).to.deep.equal([]);
    });

    it('a disabled worker can be tested', async () => {
      await startWith({ 'a.yaml': workerYaml('dis', { enabled: false }) });
      const res = await env.http<{ result: TestResult }>('POST', '/v1/workers/dis/test');
      expect(res.body.result.ok).to.equal(true);
    });

    const failing: { check: string; arrange: (e: LifecycleEnv, vmid: number) => void }[] = [
      { check: 'agent', arrange: (e, vmid) => e.sim.sim.setFault({ kind: 'agentNever', vmid }) },
      {
        check: 'network',
        arrange: (e) =>
          e.sim.sim.setFault({
            kind: 'error',
            path: 'agent/network-get-interfaces',
            message: 'Agent error: boom',
          }),
      },
      { check: 'proxmox-host', arrange: (e) => e.sim.sim.world.network.unreachable!.push('10.0.0.11') },
      { check: 'backup-server', arrange: (e) => e.sim.sim.world.network.unreachable!.push('10.0.0.50') },
      {
        check: 'updates',
        arrange: (e) =>
          e.sim.sim.setGuestCommand('dnf', {
            exitCode: 1,
            stderr: 'Errors during downloading metadata for repository baseos',
          }),
      },
    ];
    for (const tc of failing) {
      it(`a test failing at ${tc.check}: Degraded with that check as reason, powered off`, async () => {
        await startWith({ 'a.yaml': workerYaml('flaky', { deploy: 'Eager' }) });
        tc.arrange(env, env.record('flaky')!.vmid!);
        const res = await env.http<{ result: TestResult }>('POST', '/v1/workers/flaky/test');
        expect(res.status).to.equal(200);
        const r = res.body.result;
        expect(r.ok).to.equal(false);
        expect(r.checks.filter((c) => !c.ok).map((c) => c.name)).to.deep.equal([tc.check]);
        const failed = r.checks.find((c) => !c.ok)!;
        expect(failed.durationMs).to.be.a('number');
        expect(failed.output).to.not.equal('');
        const rec = env.record('flaky')!;
        const degraded = rec.status.conditions.find((c) => c.type === 'Degraded')!;
        expect(degraded.status).to.equal('True');
        expect(degraded.message).to.contain(`check ${tc.check} failed`);
        expect(rec.status.phase).to.equal('ShutDown');
        expect(env.vm('flaky')?.status).to.equal('stopped');
      });
    }
  });

  describe('edits, disable, removal while sessions run', () => {
    it('disable: the running session continues, the worker is not picked until enabled again', async () => {
      await startWith({ 'w.yaml': workerYaml('dis-run', { deploy: 'Eager' }) });
      const a = await start({ host: 'pve1' });
      env.write('w.yaml', workerYaml('dis-run', { deploy: 'Eager', enabled: false }));
      await eventually(() => env.record('dis-run')!.spec.enabled === false);
      expect((await start({ host: 'pve1' })).status).to.equal(503);
      expect((await env.http('GET', `/v1/sessions/${a.body.session.id}`)).status).to.equal(200);
      expect(env.vm('dis-run')?.status).to.equal('running');
      // Enabled again: picked again (it is already Working, so it serves at once).
      env.write('w.yaml', workerYaml('dis-run', { deploy: 'Eager' }));
      await eventually(() => env.record('dis-run')!.spec.enabled === true);
      const b = await start({ host: 'pve1' });
      expect(b.status).to.equal(201);
      expect(b.body.worker).to.equal('dis-run');
    });

    it('WhenIdle: a restart change waits for 2 sessions to end, then applies', async () => {
      await startWith({ 'w.yaml': workerYaml('idle-edit', { deploy: 'Eager', cpus: 4 }) });
      const [a, b] = await Promise.all([start({ host: 'pve1' }), start({ host: 'pve1' })]);
      env.write('w.yaml', workerYaml('idle-edit', { deploy: 'Eager', cpus: 8 }));
      await eventually(() => {
        const plan = env.controller.lastPlan;
        const wait = plan?.actions.find((x) => x.worker === 'idle-edit' && x.kind === 'wait');
        return wait?.blockedBy === 'waiting for 2 sessions to end' || JSON.stringify(plan?.actions);
      });
      expect(env.vm('idle-edit')?.status).to.equal('running');
      expect(env.vm('idle-edit')?.config.cores).to.equal('4');
      await end(a.body.session.id);
      await end(b.body.session.id);
      await eventually(
        () => env.vm('idle-edit')?.config.cores === '8' || `cores ${env.vm('idle-edit')?.config.cores}`,
      );
    });

    it('Immediate: the sessions end with the change as reason, the worker powers off, the change applies', async () => {
      await startWith({
        'w.yaml': workerYaml('now-edit', { deploy: 'Eager', cpus: 4, applyChanges: 'Immediate' }),
      });
      const a = await start({ host: 'pve1' });
      env.write('w.yaml', workerYaml('now-edit', { deploy: 'Eager', cpus: 8, applyChanges: 'Immediate' }));
      await eventually(
        () => env.vm('now-edit')?.config.cores === '8' || `cores ${env.vm('now-edit')?.config.cores}`,
      );
      const gone = await env.http<{ error: { message: string } }>('GET', `/v1/sessions/${a.body.session.id}`);
      expect(gone.status).to.equal(404);
      expect(gone.body.error.message).to.contain('interrupted by an Immediate change');
      expect(env.record('now-edit')!.status.sessions).to.deep.equal([]);
      await eventually(
        () => env.record('now-edit')!.status.phase === 'ShutDown' || env.record('now-edit')!.status.phase,
      );
    });

    it('removal is deferred while the worker is Working', async () => {
      await startWith({
        'w.yaml': workerYaml('keep', { deploy: 'Eager' }),
        'x.yaml': workerYaml('other', { deploy: 'Eager' }),
      });
      const a = await start({ host: 'pve1' });
      const worker = a.body.worker;
      rmSync(join(env.manifests, worker === 'keep' ? 'w.yaml' : 'x.yaml'));
      await eventually(() => env.record(worker)?.removeRequestedAt !== undefined);
      await env.controller.resync();
      expect(env.vm(worker)?.status).to.equal('running');
      expect(env.record(worker)).to.not.equal(undefined);
      await end(a.body.session.id);
      await eventually(() => env.record(worker) === undefined || 'still recorded');
    });
  });
});
