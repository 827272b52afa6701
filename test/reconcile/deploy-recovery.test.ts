/**
 * Invariant 4 across a multi-step deploy, and recovery from every state the journal can hold
 * (issue 11, points 7 and 8): the controller dies at each step of a cross-node deploy (clone, then
 * move_disk or migrate, then the tag), or loses a clone's answer while PVE shows only its temporary
 * config, or finds its VM deleted or its clone dead; each time it ends with exactly one VM for the
 * worker, never a second clone of the same worker, and never touches a VM that is not its own.
 */
import { expect } from 'chai';
import { converge, startHarness, workerVms, type Harness } from '../helpers/sim-harness.js';
import { eagerSpec as spec, loadOf } from '../helpers/builders.js';
import { defaultWorld } from '../../controller/simulator/index.js';
import type { Intent } from '../../controller/types.js';

const signal = () => new AbortController().signal;

/** The default world plus a template whose disks are on local storage (deployed across by migration). */
function worldWithLocalTemplate() {
  const world = defaultWorld();
  world.templates!.push({
    vmid: 9001,
    node: 'pve1',
    name: 'local-template',
    template: true,
    storage: 'local-lvm',
    disk: { size: 20, used: 2 },
    config: { agent: '1', net0: 'virtio,bridge=vmbr0', ide2: 'local-lvm:vm-9001-cloudinit,media=cdrom' },
  });
  return world;
}

function only(h: Harness, name: string) {
  const vms = workerVms(h).filter((v) => v.name === name);
  expect(vms, `vms named ${name}`).to.have.length(1);
  return vms[0]!;
}

function clones(h: Harness): number {
  return h.running.sim.callLog().filter((c) => c.endpoint.endsWith('/clone') && c.status === 200).length;
}

/** Ends in one converged VM for w1 on `host` with its disk on local-lvm, nothing left behind. */
async function expectDeployed(h: Harness, host: string) {
  const plan = await converge(h);
  expect(plan.converged, JSON.stringify(plan.actions)).to.equal(true);
  const vm = only(h, 'w1');
  expect(workerVms(h)).to.have.length(1);
  expect(vm.node).to.equal(host);
  expect(vm.lock).to.equal(undefined);
  expect(vm.tags).to.equal('workerctl');
  expect(vm.disks.find((d) => d.key === 'scsi0')).to.include({ storage: 'local-lvm' });
  expect(Object.keys(vm.config).filter((k) => k.startsWith('unused'))).to.deep.equal([]);
  const rec = h.store.getWorker('w1')!;
  expect(rec.vmid).to.equal(vm.vmid);
  expect(rec.intent).to.equal(undefined);
  expect(rec.deploy).to.equal(undefined);
  expect(rec.node).to.equal(host);
}

describe('deploy recovery: crashes at every step, lost answers, VMs changed outside workerctl', function () {
  this.timeout(30_000);
  let h: Harness;
  afterEach(async () => h?.close());

  const paths = [
    {
      path: 'target-move',
      host: 'pve2',
      template: 'worker-template',
      ops: ['clone', 'move-disk', 'finish'],
    },
    { path: 'migrate', host: 'pve3', template: 'local-template', ops: ['clone', 'migrate', 'finish'] },
  ] as const;
  for (const p of paths) {
    for (const op of p.ops) {
      const before = op === 'finish' ? 'the deploy is recorded as done' : 'the UPID is written';
      it(`${p.path} deploy: the controller dies right after its ${op} call (before ${before}); restarted, it finishes with one VM`, async () => {
        let crashed = false;
        h = await startHarness({
          world: worldWithLocalTemplate(),
          fleet: {
            hooks: {
              afterCall(called) {
                if (called !== op || crashed) return;
                crashed = true;
                throw new Error('simulated crash');
              },
            },
          },
        });
        await h.fleet.applyDesired(loadOf([spec('w1', { host: p.host, template: p.template })]));
        await h.fleet.observe();
        let err: unknown;
        await h.fleet.reconcile('w1', signal()).catch((e: unknown) => (err = e));
        expect(String(err)).to.contain('simulated crash');
        const left = h.store.getWorker('w1')!;
        if (op === 'finish') {
          // The deploy's one config write went out; its end was not recorded.
          expect(left.intent).to.equal(undefined);
          expect(left.deploy?.steps).to.deep.equal(['finish']);
        } else {
          expect(left.intent?.op).to.equal(op);
          expect(left.intent?.upid).to.equal(undefined);
        }

        await h.restart();
        await expectDeployed(h, p.host);
        expect(clones(h)).to.equal(1);
      });
    }
  }

  it('target-move deploy: the controller dies while the move_disk task runs (UPID written); it follows that task', async () => {
    h = await startHarness();
    h.running.sim.setFault({ kind: 'slowTask', taskType: 'qmmove', factor: 50, count: 1 });
    await h.fleet.applyDesired(loadOf([spec('w1', { host: 'pve2' })]));
    await h.fleet.observe();
    const controller = new AbortController();
    const pending = h.fleet.reconcile('w1', controller.signal).catch((e: unknown) => e);
    const moving = (i?: Intent) => i?.op === 'move-disk' && i.upid !== undefined;
    for (let i = 0; i < 400 && !moving(h.store.getWorker('w1')!.intent); i++)
      await new Promise((r) => setTimeout(r, 5));
    controller.abort(new Error('simulated crash'));
    await pending;
    expect(moving(h.store.getWorker('w1')!.intent)).to.equal(true);
    await h.restart();
    await expectDeployed(h, 'pve2');
    const moves = h.running.sim.callLog().filter((c) => c.endpoint.endsWith('/move_disk'));
    expect(moves).to.have.length(1);
  });

  it("a lost clone answer while PVE shows only the temporary config (no name, no marker, lock: clone) and the listing lags: the clone task is found in the node's task list", async () => {
    // qemu-server PVE/API2/Qemu.pm clone_vm: the task writes "# qmclone temporary file" + lock: clone first;
    // pve-manager PVE/API2/Cluster.pm resources: a fresh VM is listed without its name until pvestatd's broadcast.
    let crashed = false;
    h = await startHarness({
      fleet: {
        hooks: {
          afterCall(op) {
            if (op !== 'clone' || crashed) return;
            crashed = true;
            throw new Error('answer lost');
          },
        },
      },
    });
    h.running.sim.setFault({ kind: 'slowTask', taskType: 'qmclone', factor: 200, count: 1 });
    await h.fleet.applyDesired(loadOf([spec('w1', { host: 'pve2' })]));
    await h.fleet.observe();
    await h.fleet.reconcile('w1', signal()).catch(() => undefined);
    const reserved = h.store.getWorker('w1')!.intent!.vmid;
    const temp = h.running.sim.getVm(reserved)!;
    expect(temp).to.include({ lock: 'clone', node: 'pve1' });
    expect(temp.name).to.equal(undefined);

    await h.restart();
    await h.fleet.observe();
    const listed = (await h.client.vmResources()).find((r) => r.vmid === reserved)!;
    expect(listed.name).to.equal(undefined);
    const res = await h.fleet.reconcile('w1', signal());
    // Recognised by its task (the log line names our vmid), waited for, not cloned again.
    expect(res.outcome.kind).to.be.oneOf(['pending', 'converged']);
    expect(h.store.getWorker('w1')!.intent?.upid ?? 'finished').to.match(/^UPID:.*:qmclone:9000:|finished/);
    expect(clones(h)).to.equal(1);
    await expectDeployed(h, 'pve2');
    expect(only(h, 'w1').vmid).to.equal(reserved);
    expect(clones(h)).to.equal(1);
  });

  it('issue 11 point 7: a clone that finished and whose VM was deleted outside workerctl before its finish is deployed again, not stuck', async () => {
    h = await startHarness();
    h.running.sim.setFault({ kind: 'slowTask', taskType: 'qmclone', factor: 50, count: 1 });
    await h.fleet.applyDesired(loadOf([spec('w1')]));
    await h.fleet.observe();
    const controller = new AbortController();
    const pending = h.fleet.reconcile('w1', controller.signal).catch((e: unknown) => e);
    for (let i = 0; i < 400 && !h.store.getWorker('w1')!.intent?.upid; i++)
      await new Promise((r) => setTimeout(r, 5));
    controller.abort(new Error('simulated crash'));
    await pending;
    const vmid = h.store.getWorker('w1')!.intent!.vmid;
    await h.running.sim.idle(); // the clone finishes while the controller is down ...
    expect(h.running.sim.getVm(vmid)?.name).to.equal('w1');
    h.running.sim.removeVm(vmid); // ... and someone deletes the VM before it was tagged

    await h.restart();
    await expectDeployed(h, 'pve1');
    expect(clones(h)).to.equal(2);
    expect(h.store.getWorker('w1')!.status.history.map((e) => e.action)).to.include('vm gone');
  });

  it('issue 11 point 8: a VM deleted outside workerctl whose re-clone then dies is recognised as our leftover, not a Conflict; one VM in the end', async () => {
    let clonesSeen = 0;
    let upid: string | undefined;
    h = await startHarness({
      auth: 'root',
      fleet: {
        hooks: {
          afterCall(op, _w, task) {
            if (op === 'clone' && ++clonesSeen === 2) upid = task?.upid;
          },
        },
      },
    });
    await h.fleet.applyDesired(loadOf([spec('w1')]));
    await converge(h);
    const first = h.store.getWorker('w1')!.vmid!;
    h.running.sim.removeVm(first); // deleted outside workerctl

    // The re-clone dies after it wrote the new VM's name and marker (its lock stays).
    h.running.sim.setFault({ kind: 'slowTask', taskType: 'qmclone', factor: 100, count: 1 });
    const killer = (async () => {
      for (let i = 0; i < 2000; i++) {
        const vm = upid ? workerVms(h).find((v) => v.name === 'w1' && v.lock === 'clone') : undefined;
        if (vm && upid) return h.running.sim.crashTask(upid);
        await new Promise((r) => setTimeout(r, 2));
      }
      return false;
    })();
    await h.fleet.observe();
    await h.fleet.reconcile('w1', signal()).catch(() => undefined);
    expect(await killer).to.equal(true);
    const rec = h.store.getWorker('w1')!;
    expect(rec.leftover).to.include({ vmid: rec.vmid });
    expect(rec.deployed).to.equal(undefined);

    await expectDeployed(h, 'pve1');
    const degraded = h.store.getWorker('w1')!.status.conditions.find((c) => c.type === 'Degraded');
    expect(degraded?.status).to.equal('False');
  });

  it('a digest conflict (someone writes the config between our read and our write) is read again and planned again, never overwritten', async () => {
    // qemu-server PVE/API2/Qemu.pm update_vm_api: the digest is checked again under the VM's flock.
    // The edit lands right after the pass's read (GET pending), which the configure writes on.
    let edit: (() => void) | undefined;
    h = await startHarness({
      onCall(info) {
        if ((info.operation === 'pending' || info.operation === 'getConfig') && edit) {
          const e = edit;
          edit = undefined;
          e();
        }
      },
    });
    await h.fleet.applyDesired(loadOf([spec('w1')]));
    await converge(h);
    const vmid = h.store.getWorker('w1')!.vmid!;
    const mac = 'BC:24:11:AA:BB:CC';
    await h.fleet.applyDesired(
      loadOf([spec('w1', { networks: [{ bridge: 'vmbr0', vlan: 30, ipv4: 'dhcp' }] })]),
    );
    edit = () => h.running.sim.editVmConfig(vmid, { net0: `virtio=${mac},bridge=vmbr0,tag=20` });
    await h.fleet.observe();
    const res = await h.fleet.reconcile('w1', signal());
    expect(res.outcome.kind).to.equal('converged');
    expect(edit).to.equal(undefined);
    // Our change went in on top of theirs: the MAC they set stays.
    expect(h.running.sim.getVm(vmid)!.config.net0).to.equal(`virtio=${mac},bridge=vmbr0,tag=30`);
    expect(h.store.getWorker('w1')!.status.history.map((e) => e.action)).to.include(
      'config changed meanwhile',
    );
  });

  it("a deploy's one config write is guarded by the digest of the read after the clone: an edit made outside in between is seen, never written over", async () => {
    // qemu-server PVE/API2/Qemu.pm update_vm_api: the digest is checked again under the VM's flock.
    // The edit removes our marker: the write on the earlier read would tag and size a VM that is no
    // longer ours (invariant 3); refused by the digest, the fresh read shows the VM is not ours.
    let edited = false;
    h = await startHarness({
      onCall(info) {
        const vmid = h?.store.getWorker('w1')?.vmid;
        if (edited || info.operation !== 'getConfig' || vmid === undefined) return;
        if (!info.path.endsWith(`/qemu/${vmid}/config`) || h.running.sim.getVm(vmid)?.lock) return;
        edited = true;
        h.running.sim.editVmConfig(vmid, { description: 'taken over by hand' });
      },
    });
    await h.fleet.applyDesired(loadOf([spec('w1')]));
    await h.fleet.observe();
    const res = await h.fleet.reconcile('w1', signal());
    expect(edited).to.equal(true);
    expect(res.outcome.kind).to.equal('conflict');
    const vm = h.running.sim.getVm(h.store.getWorker('w1')!.vmid!)!;
    expect(vm.config.description).to.equal('taken over by hand');
    expect(vm.tags ?? '').to.not.contain('workerctl');
    expect(vm.config.cores).to.equal('2');
  });

  it('a VM of ours left locked by a task that died gets a condition with the exact unlock; as root@pam it is unlocked with skiplock', async () => {
    for (const auth of ['token', 'root'] as const) {
      h = await startHarness({ auth });
      await h.fleet.applyDesired(loadOf([spec('w1')]));
      await converge(h);
      const vmid = h.store.getWorker('w1')!.vmid!;
      h.running.sim.editVmConfig(vmid, { lock: 'migrate' }); // a migration whose task died
      await h.fleet.applyDesired(loadOf([spec('w1', { cpus: 8 })]));
      const plan = await converge(h);
      const rec = h.store.getWorker('w1')!;
      if (auth === 'token') {
        expect(plan.actions.map((a) => a.kind)).to.deep.equal(['unlock']);
        const degraded = rec.status.conditions.find((c) => c.type === 'Degraded')!;
        expect(degraded).to.include({ status: 'True', reason: 'LockedByDeadTask' });
        expect(degraded.message).to.contain(`run 'qm unlock ${vmid}' on pve1`);
        expect(h.running.sim.getVm(vmid)!.config.cores).to.equal('6');
      } else {
        expect(plan.converged).to.equal(true);
        expect(h.running.sim.getVm(vmid)!.lock).to.equal(undefined);
        expect(h.running.sim.getVm(vmid)!.config.cores).to.equal('8');
        expect(rec.status.history.map((e) => e.action)).to.include('unlocked');
      }
      await h.close();
    }
  });
});
