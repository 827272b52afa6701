/**
 * The safety invariants at component level: the reconcile core against the real simulator over
 * HTTP, the real client and a MemoryStore. Assertions are on end states: the simulator's VMs and
 * the store's records, and a plan that is empty after convergence.
 */
import { expect } from 'chai';
import { converge, startHarness, workerVms, type Harness } from '../helpers/sim-harness.js';
import { eagerSpec as spec, loadOf } from '../helpers/builders.js';
import type { WorkerRecord } from '../../controller/types.js';
import { defaultWorld } from '../../controller/simulator/index.js';

function byName(h: Harness, name: string) {
  return workerVms(h).filter((v) => v.name === name);
}

async function setSessions(h: Harness, name: string, sessions: string[]): Promise<void> {
  const rec = h.store.getWorker(name)!;
  const next: WorkerRecord = {
    ...rec,
    status: { ...rec.status, sessions, phase: sessions.length ? 'Working' : 'ShutDown' },
  };
  await h.store.seedWorker(next);
}

describe('reconcile safety invariants (simulator)', function () {
  this.timeout(30_000);
  let h: Harness;
  afterEach(async () => h?.close());

  it('invariant 1: an invalid, unreadable or half-written manifest changes nothing', async () => {
    h = await startHarness();
    const w1 = spec('w1');
    const w2 = spec('w2');
    await h.fleet.applyDesired(loadOf([w1, w2]));
    expect((await converge(h)).converged).to.equal(true);
    const before = workerVms(h).map((v) => ({ vmid: v.vmid, config: v.config }));

    // w1's file is now half-written: the loader reports it invalid and even yields a changed doc from it.
    const halfWritten = spec('w1', { cpus: 12, memoryGiB: 2 });
    const res = await h.fleet.applyDesired(loadOf([halfWritten, w2], { invalidFiles: ['workers/w1.yaml'] }));
    expect(res.changed).to.deep.equal([]);
    expect(res.removed).to.deep.equal([]);
    // An unreadable file: listed as invalid, no worker loaded from it at all.
    const res2 = await h.fleet.applyDesired(loadOf([w2], { invalidFiles: ['workers/w1.yaml'] }));
    expect(res2.removed).to.deep.equal([]);
    const plan = await converge(h);

    expect(plan.converged).to.equal(true);
    expect(h.store.getWorker('w1')!.spec.cpus).to.equal(6);
    expect(h.store.getWorker('w1')!.removeRequestedAt).to.equal(undefined);
    expect(workerVms(h).map((v) => ({ vmid: v.vmid, config: v.config }))).to.deep.equal(before);
  });

  it('invariant 2: an empty or vanished manifest set never deletes the fleet', async () => {
    h = await startHarness();
    const specs = ['w1', 'w2', 'w3', 'w4'].map((n) => spec(n));
    await h.fleet.applyDesired(loadOf(specs));
    await converge(h);
    expect(workerVms(h)).to.have.length(4);

    // The manifest directory vanished: nothing loaded at all.
    const empty = await h.fleet.applyDesired({ workers: [], diagnostics: [], files: [], invalidFiles: [] });
    expect(empty.removed).to.deep.equal([]);
    expect(empty.plan.massDeleteBlocked).to.include({ wouldDelete: 4, of: 4 });
    expect(empty.plan.converged).to.equal(false);
    await converge(h);
    expect(workerVms(h)).to.have.length(4);
    expect(h.store.listWorkers()).to.have.length(4);

    // Three of four removed at once: above the threshold, held back as a whole.
    const most = await h.fleet.applyDesired(loadOf([specs[0]!]));
    expect(most.removed).to.deep.equal([]);
    expect(most.plan.massDeleteBlocked?.wouldDelete).to.equal(3);
    await converge(h);
    expect(workerVms(h)).to.have.length(4);

    // One of four removed: below the threshold, goes through.
    const one = await h.fleet.applyDesired(loadOf(specs.slice(0, 3)));
    expect(one.removed).to.deep.equal(['w4']);
    expect(one.plan.massDeleteBlocked).to.equal(undefined);
    expect((await converge(h)).converged).to.equal(true);
    expect(
      workerVms(h)
        .map((v) => v.name)
        .sort(),
    ).to.deep.equal(['w1', 'w2', 'w3']);
    expect(h.store.getWorker('w4')).to.equal(undefined);
  });

  it('invariant 2: the mass-delete guard yields to an explicit override', async () => {
    h = await startHarness({ settings: { allowMassDelete: true } });
    await h.fleet.applyDesired(loadOf(['w1', 'w2', 'w3'].map((n) => spec(n))));
    await converge(h);
    const res = await h.fleet.applyDesired({ workers: [], diagnostics: [], files: [], invalidFiles: [] });
    expect(res.removed).to.have.members(['w1', 'w2', 'w3']);
    expect((await converge(h)).converged).to.equal(true);
    expect(workerVms(h)).to.deep.equal([]);
    expect(h.store.listWorkers()).to.deep.equal([]);
  });

  it('invariant 3: a foreign VM with a clashing name or id is reported as a conflict, never adopted, changed or deleted', async () => {
    h = await startHarness();
    const sim = h.running.sim;
    // A foreign VM already carries w1's name (even with our tag: the record does not name it).
    sim.createForeignVm({ vmid: 500, node: 'pve1', name: 'w1', tags: 'workerctl', config: { cores: 1 } });
    const foreignBefore = sim.getVm(500)!.config;
    await h.fleet.applyDesired(loadOf([spec('w1'), spec('w2')]));
    const plan = await converge(h);

    expect(byName(h, 'w1').map((v) => v.vmid)).to.deep.equal([500]);
    expect(sim.getVm(500)!.config).to.deep.equal(foreignBefore);
    const w1 = h.store.getWorker('w1')!;
    expect(w1.vmid).to.equal(undefined);
    const degraded = w1.status.conditions.find((c) => c.type === 'Degraded')!;
    expect(degraded).to.include({ status: 'True', reason: 'Conflict' });
    expect(plan.actions.filter((a) => a.kind === 'conflict').map((a) => a.worker)).to.deep.equal(['w1']);

    // w2's VM is replaced behind our back by a foreign VM at the same vmid.
    const w2 = h.store.getWorker('w2')!;
    sim.removeVm(w2.vmid!);
    sim.createForeignVm({ vmid: w2.vmid!, node: 'pve1', name: 'w2', tags: 'other', config: { cores: 3 } });
    const atIdBefore = sim.getVm(w2.vmid!)!.config;
    await converge(h);
    expect(sim.getVm(w2.vmid!)!.config).to.deep.equal(atIdBefore);
    expect(h.store.getWorker('w2')!.status.conditions.find((c) => c.type === 'Degraded')).to.include({
      status: 'True',
      reason: 'Conflict',
    });

    // Removing both workers from the manifests drops the records and still leaves both VMs alone.
    // (The first load would leave no worker at all, so the mass-delete guard holds it; once w3 is
    // recorded, removing two of three is below the threshold.)
    await h.fleet.applyDesired(loadOf([spec('w3')]));
    const res = await h.fleet.applyDesired(loadOf([spec('w3')]));
    expect(res.plan.massDeleteBlocked).to.equal(undefined);
    await converge(h);
    expect(sim.getVm(500)!.config).to.deep.equal(foreignBefore);
    expect(sim.getVm(w2.vmid!)!.config).to.deep.equal(atIdBefore);
    expect(h.store.getWorker('w1')).to.equal(undefined);
    expect(h.store.getWorker('w2')).to.equal(undefined);
  });

  it('invariant 3 with the listing lag: a foreign VM made a moment ago, listed without its name, is never cloned beside, adopted or changed', async () => {
    // pve-manager PVE/API2/Cluster.pm resources: name and status come from pvestatd's last broadcast
    // (every 10 s: pve-manager PVE/Service/pvestatd.pm).
    const world = defaultWorld();
    world.latencies = { statsInterval: 10_000 };
    h = await startHarness({ world });
    const sim = h.running.sim;
    const foreign = sim.createForeignVm({ vmid: 500, node: 'pve1', name: 'w1', config: { cores: 1 } });
    await h.fleet.applyDesired(loadOf([spec('w1')]));
    await h.fleet.observe();
    const listed = (await h.client.vmResources()).find((r) => r.vmid === 500)!;
    expect(listed).to.include({ status: 'unknown' });
    expect(listed.name).to.equal(undefined);
    // The plan reads the config of the unnamed entry next to a create: a conflict, not a create.
    const plan = await h.fleet.plan();
    expect(plan.actions.map((a) => [a.worker, a.kind])).to.deep.equal([['w1', 'conflict']]);
    const res = await h.fleet.reconcile('w1', new AbortController().signal);
    expect(res.outcome.kind).to.equal('conflict');
    expect(sim.callLog().filter((c) => c.method !== 'GET')).to.deep.equal([]);
    expect(sim.getVm(500)!.config).to.deep.equal(foreign.config);
    expect(h.store.getWorker('w1')!.vmid).to.equal(undefined);
  });

  it('invariant 3 with the listing lag: a delete re-reads the config; a foreign VM at our vmid, listed with our tag and the old name, is left alone', async () => {
    h = await startHarness();
    const sim = h.running.sim;
    await h.fleet.applyDesired(loadOf([spec('w1'), spec('w2'), spec('w3')]));
    await converge(h);
    const vmid = h.store.getWorker('w1')!.vmid!;
    sim.removeVm(vmid);
    const foreign = sim.createForeignVm({
      vmid,
      node: 'pve1',
      name: 'w1',
      tags: 'workerctl',
      config: { cores: 2 },
    });
    await h.fleet.applyDesired(loadOf([spec('w2'), spec('w3')]));
    await converge(h);
    expect(sim.getVm(vmid)).to.not.equal(undefined);
    expect(sim.getVm(vmid)!.config).to.deep.equal(foreign.config);
    expect(sim.callLog().filter((c) => c.method === 'DELETE')).to.deep.equal([]);
  });

  it('invariant 4: after a crash mid-clone the controller resumes and never creates a second VM', async () => {
    let crashes = 0;
    h = await startHarness({
      fleet: {
        hooks: {
          afterCall(op) {
            // The process dies right after PVE accepted the clone, before the UPID is written down.
            if (op === 'clone' && crashes++ === 0) throw new Error('simulated crash');
          },
        },
      },
    });
    await h.fleet.applyDesired(loadOf([spec('w1', { host: 'pve2' })]));
    await h.fleet.observe();
    let crashed: unknown;
    await h.fleet.reconcile('w1', new AbortController().signal).catch((e: unknown) => (crashed = e));
    expect(String(crashed)).to.contain('simulated crash');
    const left = h.store.getWorker('w1')!;
    expect(left.intent).to.include({ op: 'clone' });
    expect(left.intent!.upid).to.equal(undefined);

    await h.restart(); // a fresh reconciler on what the store persisted, same simulator
    expect(h.store.getWorker('w1')!.intent?.op).to.equal('clone');
    const plan = await converge(h);

    expect(plan.converged).to.equal(true);
    const vms = byName(h, 'w1');
    expect(vms).to.have.length(1);
    expect(workerVms(h)).to.have.length(1);
    const rec = h.store.getWorker('w1')!;
    expect(rec.vmid).to.equal(vms[0]!.vmid);
    expect(rec.intent).to.equal(undefined);
    expect(vms[0]!.node).to.equal('pve2');
    expect(vms[0]!.config.cores).to.equal('6');
    expect(vms[0]!.tags).to.equal('workerctl');
  });

  /**
   * The controller dies before writing the clone's UPID, and the clone task dies too, leaving PVE's
   * temporary config (qemu-server PVE/API2/Qemu.pm clone_vm: "# qmclone temporary file", `lock: clone`)
   * or a config with our marker, locked. Its task is found in the node's task list by the log line
   * naming our vmid, so the VM is recognised as ours by the intent, never cloned twice.
   */
  async function dieWithTheClone(settings: Parameters<typeof startHarness>[0] = {}) {
    let crashes = 0;
    const sim = () => h.running.sim;
    h = await startHarness({
      ...settings,
      fleet: {
        hooks: {
          afterCall(op, _worker, task) {
            if (op !== 'clone' || crashes++ > 0) return;
            sim().crashTask(task!.upid);
            throw new Error('simulated crash');
          },
        },
      },
    });
    await h.fleet.applyDesired(loadOf([spec('w1')]));
    await h.fleet.observe();
    await h.fleet.reconcile('w1', new AbortController().signal).catch(() => undefined);
    const reserved = h.store.getWorker('w1')!.intent!.vmid;
    expect(h.store.getWorker('w1')!.intent!.upid).to.equal(undefined);
    await h.restart();
    return reserved;
  }

  it('invariant 4: a clone whose task died with the controller is found by its task, reported with the exact unlock, then removed and cloned once more', async () => {
    const reserved = await dieWithTheClone();
    const left = h.running.sim.getVm(reserved)!;
    expect(left.lock).to.equal('clone');
    await converge(h);
    // An API token cannot unlock (skiplock is root@pam's): the worker says what to run, nothing else happens.
    expect(workerVms(h).map((v) => v.vmid)).to.deep.equal([reserved]);
    const rec = h.store.getWorker('w1')!;
    expect(rec.intent).to.equal(undefined);
    expect(rec.leftover).to.include({ vmid: reserved, node: 'pve1' });
    const degraded = rec.status.conditions.find((c) => c.type === 'Degraded')!;
    expect(degraded).to.include({ status: 'True', reason: 'LockedByDeadTask' });
    expect(degraded.message).to.contain(`run 'qm unlock ${reserved}' on pve1`);
    expect(h.running.sim.callLog().filter((c) => c.endpoint.endsWith('/clone'))).to.have.length(1);

    h.running.sim.editVmConfig(reserved, { lock: null }); // the operator: qm unlock on pve1
    const plan = await converge(h);
    expect(plan.converged).to.equal(true);
    expect(byName(h, 'w1')).to.have.length(1);
    expect(workerVms(h)).to.have.length(1);
    expect(byName(h, 'w1')[0]!.lock).to.equal(undefined);
    expect(h.store.getWorker('w1')!.vmid).to.equal(byName(h, 'w1')[0]!.vmid);
    expect(h.store.getWorker('w1')!.leftover).to.equal(undefined);
  });

  it('invariant 4: logged in as root@pam (ticket), the dead clone is removed with skiplock and cloned once more', async () => {
    const reserved = await dieWithTheClone({ auth: 'root' });
    expect(h.running.sim.getVm(reserved)!.lock).to.equal('clone');
    const plan = await converge(h);
    expect(plan.converged).to.equal(true);
    expect(byName(h, 'w1')).to.have.length(1);
    expect(workerVms(h)).to.have.length(1);
    expect(byName(h, 'w1')[0]!.lock).to.equal(undefined);
    const deletes = h.running.sim.callLog().filter((c) => c.method === 'DELETE' && c.status === 200);
    expect(deletes.map((c) => String(c.params.skiplock))).to.deep.equal(['1']);
  });

  it('invariant 4: a crash after the UPID was recorded follows the same task', async () => {
    h = await startHarness();
    await h.fleet.applyDesired(loadOf([spec('w1')]));
    await h.fleet.observe();
    // Stop waiting for the clone task at once: the intent keeps its UPID, as after a crash mid-wait.
    h.running.sim.setFault({ kind: 'slowTask', taskType: 'qmclone', factor: 50, count: 1 });
    const controller = new AbortController();
    const pending = h.fleet.reconcile('w1', controller.signal).catch((e: unknown) => e);
    for (let i = 0; i < 200 && !h.store.getWorker('w1')!.intent?.upid; i++)
      await new Promise((r) => setTimeout(r, 5));
    controller.abort(new Error('simulated crash'));
    await pending;
    expect(h.store.getWorker('w1')!.intent?.upid).to.match(/^UPID:/);

    await h.restart();
    const plan = await converge(h);
    expect(plan.converged).to.equal(true);
    expect(byName(h, 'w1')).to.have.length(1);
    expect(workerVms(h)).to.have.length(1);
  });

  it('invariant 6: a Working worker is never restarted, reconfigured or removed unless Immediate', async () => {
    h = await startHarness();
    const sim = h.running.sim;
    await h.fleet.applyDesired(loadOf([spec('w1'), spec('w2')]));
    await converge(h);
    const vmid = h.store.getWorker('w1')!.vmid!;
    sim.setVmPower(vmid, 'running');
    await setSessions(h, 'w1', ['s-1', 's-2']);
    const before = sim.getVm(vmid)!;

    // A restart-class change (cpus) and then removal, both WhenIdle.
    await h.fleet.applyDesired(loadOf([spec('w1', { cpus: 8 }), spec('w2')]));
    let plan = await converge(h);
    let wait = plan.actions.find((a) => a.worker === 'w1')!;
    expect(wait).to.include({ kind: 'wait', blockedBy: 'waiting for 2 sessions to end' });
    let now = sim.getVm(vmid)!;
    expect(now.status).to.equal('running');
    expect(now.config).to.deep.equal(before.config);
    expect(now.pending).to.deep.equal({});

    await h.fleet.applyDesired(loadOf([spec('w2')]));
    plan = await converge(h);
    wait = plan.actions.find((a) => a.worker === 'w1')!;
    expect(wait.kind).to.equal('wait');
    now = sim.getVm(vmid)!;
    expect(now.status).to.equal('running');
    expect(now.config).to.deep.equal(before.config);
    expect(h.store.getWorker('w1')).to.not.equal(undefined);

    // Back in the manifests with Immediate: the change is applied even while Working.
    await h.fleet.applyDesired(loadOf([spec('w1', { cpus: 8, applyChanges: 'Immediate' }), spec('w2')]));
    plan = await converge(h);
    expect(plan.converged).to.equal(true);
    now = sim.getVm(vmid)!;
    expect(now.config.cores).to.equal('8');
    expect(now.status).to.equal('running');
    expect(h.store.getWorker('w1')!.status.history.map((e) => e.action)).to.include('restarted');
  });

  it('converges although 10% of Proxmox calls fail', async () => {
    h = await startHarness({ seed: 11 });
    const sim = h.running.sim;
    sim.setFault({ kind: 'status596', rate: 0.04 });
    sim.setFault({ kind: 'lockTimeout', rate: 0.03 });
    sim.setFault({ kind: 'error', status: 500, message: 'simulated failure', rate: 0.03 });
    sim.setFault({ kind: 'failTask', taskType: 'qmclone', count: 2 });
    const specs = ['a', 'b', 'c', 'd', 'e'].map((n, i) =>
      spec(`w-${n}`, { host: `pve${(i % 3) + 1}`, cpus: 2 + i }),
    );
    await h.fleet.applyDesired(loadOf(specs));
    await converge(h, 40);
    const fired = sim.faults.list().reduce((n, f) => n + f.fired, 0);
    expect(fired).to.be.greaterThan(5);
    sim.clearFaults();
    const plan = await converge(h);

    expect(plan.converged).to.equal(true);
    for (const s of specs) {
      const vms = byName(h, s.name);
      expect(vms, s.name).to.have.length(1);
      expect(vms[0]!.config.cores).to.equal(String(s.cpus));
      expect(vms[0]!.node).to.equal(s.host);
      expect(h.store.getWorker(s.name)!.vmid).to.equal(vms[0]!.vmid);
    }
    expect(workerVms(h)).to.have.length(specs.length);
    expect(sim.schemaViolations()).to.deep.equal([]);
  });
});
