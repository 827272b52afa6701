/**
 * What the core decides from a listing that may be seconds old (reused up to 5 s): pending
 * restart-class changes are seen whatever the listing says about power, power decisions use a
 * status read made now, and a clone checks the worker's name against a listing taken now. Real
 * simulator over HTTP, real client; assertions on the simulator's VMs and the stored status.
 */
import { expect } from 'chai';
import { converge, startHarness, workerVms, type Harness } from '../helpers/sim-harness.js';
import { eagerSpec as spec, loadOf } from '../helpers/builders.js';
import type { WorkerRecord, WorkerSpec } from '../../controller/types.js';

const signal = () => new AbortController().signal;

function vmOf(h: Harness, name: string) {
  const rec = h.store.getWorker(name)!;
  const vm = workerVms(h).find((v) => v.vmid === rec.vmid);
  if (!vm) throw new Error(`no vm for ${name}`);
  return vm;
}

function ready(h: Harness, name: string) {
  return h.store.getWorker(name)!.status.conditions.find((c) => c.type === 'Ready');
}

async function power(h: Harness, name: string, op: 'start' | 'stop'): Promise<void> {
  const vm = vmOf(h, name);
  await h.client.waitForTask(await h.client[op](vm.node, vm.vmid));
}

async function setSessions(h: Harness, name: string, sessions: string[]): Promise<void> {
  const rec = h.store.getWorker(name)!;
  const next: WorkerRecord = {
    ...rec,
    status: { ...rec.status, sessions, phase: sessions.length ? 'Working' : 'ShutDown' },
  };
  await h.store.seedWorker(next);
}

/** Deploys `s` (converged, stopped); the fleet's listing is then cached (the fake clock stands still). */
async function deployed(s: WorkerSpec): Promise<Harness> {
  const h = await startHarness();
  await h.fleet.applyDesired(loadOf([s]));
  expect((await converge(h)).converged).to.equal(true);
  expect(vmOf(h, s.name).status).to.equal('stopped');
  return h;
}

describe('reconcile: pending changes, power and names against a cached listing (simulator)', function () {
  this.timeout(30_000);
  let h: Harness;
  afterEach(async () => h?.close());

  it('restarts a vm started after the cached listing to apply a cores change (Immediate)', async () => {
    h = await deployed(spec('w1', { applyChanges: 'Immediate' }));
    await power(h, 'w1', 'start'); // the cached listing still says stopped
    await h.fleet.applyDesired(loadOf([spec('w1', { applyChanges: 'Immediate', cpus: 8 })]));
    await h.fleet.reconcile('w1', signal());

    const vm = vmOf(h, 'w1');
    expect(vm.status).to.equal('running');
    expect(vm.config.cores).to.equal('8');
    expect(vm.pending).to.deep.equal({});
    expect(ready(h, 'w1')?.status).to.equal('True');
    expect(h.store.getWorker('w1')!.status.history.map((e) => e.action)).to.include('restarted');
  });

  it('WhenIdle with a session open: pending cores wait (plan says so, not Ready), restart when it ends', async () => {
    h = await deployed(spec('w1'));
    await power(h, 'w1', 'start');
    // A cores write on the running vm is pending (as left by a pass that configured but did not restart).
    const vm0 = vmOf(h, 'w1');
    await h.client.updateConfig(vm0.node, vm0.vmid, { set: { cores: 8 } });
    expect(vmOf(h, 'w1').pending).to.include({ cores: '8' });
    await setSessions(h, 'w1', ['s1']);
    const res = await h.fleet.applyDesired(loadOf([spec('w1', { cpus: 8 })]));

    const wait = res.plan.actions.find((a) => a.worker === 'w1');
    expect(wait).to.include({ kind: 'wait', class: 'restart', blockedBy: 'waiting for 1 session to end' });
    expect(res.plan.converged).to.equal(false);
    await h.fleet.reconcile('w1', signal());
    expect(ready(h, 'w1')).to.include({ status: 'False', reason: 'Waiting' });
    expect(vmOf(h, 'w1').pending).to.include({ cores: '8' });
    expect(vmOf(h, 'w1').config.cores).to.equal('6');

    await setSessions(h, 'w1', []);
    await h.fleet.reconcile('w1', signal());
    const vm = vmOf(h, 'w1');
    expect(vm.config.cores).to.equal('8');
    expect(vm.pending).to.deep.equal({});
    expect(vm.status).to.equal('running');
    expect(ready(h, 'w1')?.status).to.equal('True');
    expect((await h.fleet.plan()).converged).to.equal(true);
  });

  it('WhenIdle with a session open on a vm started after the cached listing: nothing written, waits', async () => {
    h = await deployed(spec('w1'));
    await power(h, 'w1', 'start'); // cached listing: stopped, so cores would look live
    await setSessions(h, 'w1', ['s1']);
    await h.fleet.applyDesired(loadOf([spec('w1', { cpus: 8 })]));
    await h.fleet.reconcile('w1', signal());

    const vm = vmOf(h, 'w1');
    expect(vm.config.cores).to.equal('6');
    expect(vm.pending).to.deep.equal({});
    expect(ready(h, 'w1')).to.include({ status: 'False', reason: 'Waiting' });
    const plan = await h.fleet.plan();
    expect(plan.actions.find((a) => a.worker === 'w1')).to.include({ kind: 'wait', class: 'restart' });
  });

  it('a vm stopped after the cached listing (which says running) is configured, not started', async () => {
    h = await deployed(spec('w1', { applyChanges: 'Immediate' }));
    await power(h, 'w1', 'start');
    await h.fleet.observe(); // cached listing: running
    await power(h, 'w1', 'stop');
    await h.fleet.applyDesired(loadOf([spec('w1', { applyChanges: 'Immediate', cpus: 8 })]));
    await h.fleet.reconcile('w1', signal());

    const vm = vmOf(h, 'w1');
    expect(vm.status).to.equal('stopped');
    expect(vm.config.cores).to.equal('8');
    expect(vm.pending).to.deep.equal({});
    expect(ready(h, 'w1')?.status).to.equal('True');
  });

  it('a foreign vm named like the worker, created after the cached listing, is a conflict: no clone', async () => {
    h = await startHarness();
    await h.fleet.observe(); // cached listing: no vm named w1
    const foreign = await h.client.create('pve1', 777, { name: 'w1', memory: 512 });
    await h.client.waitForTask(foreign);
    await h.fleet.applyDesired(loadOf([spec('w1')]));
    await h.fleet.reconcile('w1', signal()).catch(() => undefined);

    expect(
      workerVms(h)
        .filter((v) => v.name === 'w1')
        .map((v) => v.vmid),
    ).to.deep.equal([777]);
    const rec = h.store.getWorker('w1')!;
    expect(rec.vmid).to.equal(undefined);
    expect(rec.intent).to.equal(undefined);
    expect(ready(h, 'w1')).to.include({ status: 'False', reason: 'Conflict' });
  });

  it('the name check also sees a foreign vm /cluster/resources still lists without its name', async () => {
    h = await startHarness();
    h.running.sim.resourcesLag = true;
    await h.fleet.observe();
    await h.client.waitForTask(await h.client.create('pve1', 778, { name: 'w1', memory: 512 }));
    await h.fleet.applyDesired(loadOf([spec('w1')]));
    await h.fleet.reconcile('w1', signal()).catch(() => undefined);

    expect(
      workerVms(h)
        .filter((v) => v.name === 'w1')
        .map((v) => v.vmid),
    ).to.deep.equal([778]);
    expect(ready(h, 'w1')).to.include({ status: 'False', reason: 'Conflict' });
  });
});
