/** Reconcile behaviours end to end against the simulator: create, OnDemand, edits, drift, removal, errors. */
import { expect } from 'chai';
import { converge, startHarness, workerVms, type Harness } from '../helpers/sim-harness.js';
import { eagerSpec as spec, loadOf } from '../helpers/builders.js';
import { MemoryStore } from '../../controller/store/memory-store.js';
import { createReconcileCore } from '../../controller/reconcile/core.js';
import { silentLogger } from '../../controller/log.js';
import { TerminalError } from '../../controller/errors.js';
import { defaultWorld } from '../../controller/simulator/index.js';

const signal = () => new AbortController().signal;

function vmOf(h: Harness, name: string) {
  const vms = workerVms(h).filter((v) => v.name === name);
  expect(vms, `vms named ${name}`).to.have.length(1);
  return vms[0]!;
}

function cond(h: Harness, name: string, type: string) {
  return h.store.getWorker(name)!.status.conditions.find((c) => c.type === type);
}

describe('reconcile fleet (simulator)', function () {
  this.timeout(30_000);
  let h: Harness;
  afterEach(async () => h?.close());

  it('deploys an Eager worker: full clone to its storage on its host, configured, stopped; a second pass plans nothing', async () => {
    h = await startHarness();
    const s = spec('w1', {
      host: 'pve3',
      diskGiB: 120,
      cpus: 4,
      memoryGiB: 8,
      networks: [
        { bridge: 'vmbr0', vlan: 20, ipv4: { address: '10.0.20.15/24', gateway: '10.0.20.1' } },
        { bridge: 'vmbr1', ipv4: 'dhcp' },
      ],
      dns: { servers: ['10.0.0.53', '10.0.0.54'] },
    });
    await h.fleet.applyDesired(loadOf([s]));
    const plan = await converge(h);
    expect(plan).to.deep.equal({ actions: [], converged: true });
    const vm = vmOf(h, 'w1');
    expect(vm.node).to.equal('pve3');
    expect(vm.status).to.equal('stopped');
    expect(vm.tags).to.equal('workerctl');
    expect(vm.config).to.include({
      cores: '4',
      sockets: '1',
      memory: '8192',
      nameserver: '10.0.0.53 10.0.0.54',
    });
    expect(vm.config.ipconfig0).to.equal('ip=10.0.20.15/24,gw=10.0.20.1');
    expect(vm.config.net1).to.match(/^virtio=[0-9A-F:]+,bridge=vmbr1$/);
    expect(vm.disks.find((d) => d.key === 'scsi0')).to.include({ storage: 'local-lvm', sizeGiB: 120 });
    const rec = h.store.getWorker('w1')!;
    expect(rec.vmid).to.equal(vm.vmid);
    expect(rec.status).to.include({ phase: 'ShutDown', observedGeneration: 1, vmid: vm.vmid, node: 'pve3' });
    expect(cond(h, 'w1', 'Ready')).to.include({ status: 'True' });

    // An idle pass before the drift check is due: one listing, no config read, nothing written.
    const idle = h.running.sim.callLog().length;
    await h.fleet.observe();
    expect(await h.fleet.reconcile('w1', signal())).to.deep.equal({
      outcome: { kind: 'converged' },
      vm: { node: 'pve3', vmid: vm.vmid },
    });
    expect(h.running.sim.callLog(idle).map((c) => c.endpoint)).to.deep.equal(['GET /cluster/resources']);

    // Another pass reads the config again (drift check due) and still does nothing.
    const before = h.running.sim.callLog().length;
    await h.clock.advance(h.settings.driftCheckIntervalMs);
    await h.fleet.observe();
    expect((await h.fleet.reconcile('w1', signal())).outcome).to.deep.equal({ kind: 'converged' });
    const writes = h.running.sim.callLog(before).filter((c) => c.method !== 'GET');
    expect(writes).to.deep.equal([]);
    expect(h.running.sim.schemaViolations()).to.deep.equal([]);
  });

  it('OnDemand: no VM until the lifecycle asks (wantDeployed), then kept in line with its spec', async () => {
    h = await startHarness();
    await h.fleet.applyDesired(loadOf([spec('w1', { deploy: 'OnDemand' })]));
    expect((await converge(h)).converged).to.equal(true);
    expect(workerVms(h)).to.deep.equal([]);
    expect(h.store.getWorker('w1')!.status.phase).to.equal('Configured');
    expect(cond(h, 'w1', 'Ready')).to.include({ status: 'True' });

    await h.store.seedWorker({ ...h.store.getWorker('w1')!, wantDeployed: true });
    await converge(h);
    expect(vmOf(h, 'w1').config.cores).to.equal('6');

    await h.fleet.applyDesired(loadOf([spec('w1', { deploy: 'OnDemand', cpus: 3 })]));
    expect((await converge(h)).converged).to.equal(true);
    expect(vmOf(h, 'w1').config.cores).to.equal('3');
  });

  it('repairs drift made in the Proxmox UI and says so in history', async () => {
    h = await startHarness();
    await h.fleet.applyDesired(loadOf([spec('w1')]));
    await converge(h);
    const vmid = h.store.getWorker('w1')!.vmid!;
    h.running.sim.editVmConfig(vmid, { cores: 2, tags: 'workerctl;extra', onboot: 1 });

    await h.clock.advance(h.settings.driftCheckIntervalMs);
    expect((await converge(h)).converged).to.equal(true);
    const vm = vmOf(h, 'w1');
    expect(vm.config).to.include({ cores: '6', tags: 'workerctl', onboot: '0' });
    const causes = h.store.getWorker('w1')!.status.history.map((e) => e.cause);
    expect(
      causes.some((c) => c.startsWith('drift:') && c.includes('cpus 2 -> 6') && c.endsWith('put back')),
    ).to.equal(true);
  });

  it('drift checks stay within the per-pass budget', async () => {
    h = await startHarness({ settings: { driftBudgetPerPass: 2 } });
    await h.fleet.applyDesired(loadOf(['a', 'b', 'c', 'd'].map((n) => spec(n))));
    await converge(h);
    await h.clock.advance(h.settings.driftCheckIntervalMs);
    const before = h.running.sim.callLog().length;
    await h.fleet.observe();
    // Config reads go to GET …/pending (the config plus what is not applied yet).
    const reads = h.running.sim
      .callLog(before)
      .filter((c) => c.endpoint.endsWith('/config') || c.endpoint.endsWith('/pending'));
    const listings = h.running.sim.callLog(before).filter((c) => c.path.startsWith('/cluster/resources'));
    expect(reads).to.have.length(2);
    expect(listings).to.have.length(1);
  });

  it('applies edits: live config, disk grow, and a storage change as a redeploy', async () => {
    h = await startHarness();
    await h.fleet.applyDesired(loadOf([spec('w1')]));
    await converge(h);
    const first = vmOf(h, 'w1').vmid;

    await h.fleet.applyDesired(loadOf([spec('w1', { description: 'rack 4', diskGiB: 150 })]));
    let plan = await h.fleet.plan();
    expect(plan.actions.map((a) => [a.kind, a.class])).to.deep.equal([
      ['configure', 'live'],
      ['resize', 'live'],
    ]);
    expect((await converge(h)).converged).to.equal(true);
    let vm = vmOf(h, 'w1');
    expect(vm.vmid).to.equal(first);
    expect(vm.description).to.match(/^rack 4\nworkerctl: worker=w1 uid=/);
    expect(vm.disks.find((d) => d.key === 'scsi0')!.sizeGiB).to.equal(150);

    await h.fleet.applyDesired(
      loadOf([spec('w1', { description: 'rack 4', diskGiB: 150, storage: 'cephpool' })]),
    );
    await h.fleet.observe();
    plan = await h.fleet.plan();
    expect(plan.actions.map((a) => a.kind)).to.deep.equal(['redeploy']);
    expect((await converge(h)).converged).to.equal(true);
    vm = vmOf(h, 'w1');
    expect(vm.disks.find((d) => d.key === 'scsi0')!.storage).to.equal('cephpool');
    expect(h.running.sim.getVm(first) === undefined || vm.vmid === first).to.equal(true);
    expect(workerVms(h)).to.have.length(1);
  });

  it('refuses to shrink a disk and reports it', async () => {
    h = await startHarness();
    await h.fleet.applyDesired(loadOf([spec('w1')]));
    await converge(h);
    await h.fleet.applyDesired(loadOf([spec('w1', { diskGiB: 50 })]));
    const plan = await converge(h);
    expect(plan.actions.map((a) => [a.kind, a.class])).to.deep.equal([['resize', 'destructive']]);
    expect(vmOf(h, 'w1').disks.find((d) => d.key === 'scsi0')!.sizeGiB).to.equal(100);
    expect(cond(h, 'w1', 'Degraded')).to.include({ status: 'True', reason: 'DiskShrinkRefused' });
  });

  it('removal: a running VM is shut down and deleted with its disks; Orphan keeps the VM without our marks', async () => {
    h = await startHarness();
    await h.fleet.applyDesired(loadOf([spec('w1'), spec('w2', { deletionPolicy: 'Orphan' }), spec('w3')]));
    await converge(h);
    const w1 = h.store.getWorker('w1')!.vmid!;
    const w2 = h.store.getWorker('w2')!.vmid!;
    h.running.sim.setVmPower(w1, 'running');

    await h.fleet.applyDesired(loadOf([spec('w3')], {}));
    const res = await h.fleet.applyDesired(loadOf([spec('w3')]));
    expect(res.plan.massDeleteBlocked).to.equal(undefined);
    expect((await converge(h)).converged).to.equal(true);

    expect(h.running.sim.getVm(w1)).to.equal(undefined);
    const orphan = h.running.sim.getVm(w2)!;
    expect(orphan.name).to.equal('w2');
    expect(orphan.tags ?? '').to.not.contain('workerctl');
    expect(orphan.description ?? '').to.not.contain('workerctl:');
    expect(h.store.listWorkers().map((r) => r.name)).to.deep.equal(['w3']);
  });

  it('a missing template or storage is a plan-time error: Degraded with the fix, not retried hot', async () => {
    h = await startHarness();
    await h.fleet.applyDesired(
      loadOf([spec('w1', { template: 'no-such-template' }), spec('w2', { storage: 'nope' })]),
    );
    await h.fleet.observe();
    for (const name of ['w1', 'w2']) {
      let err: unknown;
      await h.fleet.reconcile(name, signal()).catch((e: unknown) => (err = e));
      expect(err, name).to.be.instanceOf(TerminalError);
      // A missing template has its own reason: apply --wait names the fix (loop/blockers.ts).
      const reason = name === 'w1' ? 'TemplateNotFound' : 'NoDeployPath';
      expect(cond(h, name, 'Degraded')).to.include({ status: 'True', reason });
      expect(cond(h, name, 'Reconciling')).to.include({ status: 'False' });
      expect(h.store.getWorker(name)!.status.lastError).to.match(name === 'w1' ? /template/ : /storage nope/);
    }
    expect(workerVms(h)).to.deep.equal([]);
  });

  it('a deploy path per worker, shown by the plan: local clone, clone across to shared storage (then move_disk to local), local clone then offline migration; none is a plan-time error with the fix', async () => {
    // qemu-server PVE/API2/Qemu.pm clone_vm refuses `target` with non-shared storage and with any local
    // volume; move_vm_disk moves within a node; migrate_vm carries local disks (targetstorage) but not a
    // local CD-ROM image (PVE/QemuMigrate.pm scan_local_volumes).
    const world = defaultWorld();
    const tpl = (vmid: number, name: string, storage: string, config: Record<string, string | number>) =>
      world.templates!.push({
        vmid,
        node: 'pve1',
        name,
        template: true,
        storage,
        disk: { size: 20, used: 2 },
        config,
      });
    tpl(9001, 'local-template', 'local-lvm', {
      net0: 'virtio,bridge=vmbr0',
      agent: '1',
      ide2: 'local-lvm:vm-9001-cloudinit,media=cdrom',
    });
    tpl(9002, 'iso-template', 'local-lvm', { agent: '1', ide2: 'local:iso/rocky.iso,media=cdrom' });
    tpl(9003, 'no-ci-template', 'cephpool', { agent: '1' });
    tpl(9004, 'no-agent-template', 'cephpool', { ide2: 'cephpool:vm-9004-cloudinit,media=cdrom' });
    h = await startHarness({ world });
    const staticNet = [{ bridge: 'vmbr0', ipv4: { address: '10.0.0.40/24', gateway: '10.0.0.1' } }];
    await h.fleet.applyDesired(
      loadOf([
        spec('w1', { host: 'pve2' }),
        spec('w2', { host: 'pve2', template: 'local-template' }),
        spec('w3', { template: 9001 }),
        spec('w4', { host: 'pve3', storage: 'cephpool' }),
        spec('w5', { host: 'pve2', template: 'iso-template' }),
        spec('w6', { template: 'no-ci-template', networks: staticNet }),
        spec('w7', { template: 'no-agent-template' }),
      ]),
    );
    const plan = await h.fleet.plan();
    const reason = (w: string) => plan.actions.find((a) => a.worker === w)!;
    expect(reason('w1').reason).to.contain(
      'clone worker-template (vm 9000 on pve1) to cephpool on pve2, then move disk scsi0 to local-lvm',
    );
    expect(reason('w2').reason).to.contain(
      'clone local-template (vm 9001 on pve1) to local-lvm on pve1, then migrate it offline to local-lvm on pve2',
    );
    expect(reason('w3').reason).to.contain('clone local-template (vm 9001 on pve1) to local-lvm on pve1,');
    expect(reason('w4').reason).to.contain('clone worker-template (vm 9000 on pve1) to cephpool on pve3,');
    expect(reason('w5').blockedBy).to.match(
      /^NoDeployPath: worker w5: .*CD-ROM on local storage.*qm set 9002 --ide2 none/,
    );
    expect(reason('w6').blockedBy).to.match(
      /^TemplateCheckFailed: worker w6 .*no cloud-init drive.*qm set 9003 --ide2/,
    );
    expect(reason('w7').blockedBy).to.match(
      /^TemplateCheckFailed: .*guest agent off.*qm set 9004 --agent enabled=1/,
    );

    await converge(h);
    for (const [w, node, storage] of [
      ['w1', 'pve2', 'local-lvm'],
      ['w2', 'pve2', 'local-lvm'],
      ['w3', 'pve1', 'local-lvm'],
      ['w4', 'pve3', 'cephpool'],
    ] as const) {
      const vm = vmOf(h, w);
      expect(vm.node, w).to.equal(node);
      expect(
        vm.disks.find((d) => d.key === 'scsi0'),
        w,
      ).to.include({ storage });
      // move_disk with delete: no copy left behind on the shared storage
      expect(
        Object.keys(vm.config).filter((k) => k.startsWith('unused')),
        w,
      ).to.deep.equal([]);
      expect(cond(h, w, 'Ready'), w).to.include({ status: 'True' });
    }
    expect(
      workerVms(h)
        .map((v) => v.name)
        .sort(),
    ).to.deep.equal(['w1', 'w2', 'w3', 'w4']);
    for (const [w, why] of [
      ['w5', 'NoDeployPath'],
      ['w6', 'TemplateCheckFailed'],
      ['w7', 'TemplateCheckFailed'],
    ] as const) {
      expect(cond(h, w, 'Degraded'), w).to.include({ status: 'True', reason: why });
      expect(h.store.getWorker(w)!.status.lastError, w).to.contain(`qm set`);
    }
  });

  it('status is written when a pass fails, and condition times move only on a change', async () => {
    h = await startHarness();
    await h.fleet.applyDesired(loadOf([spec('w1')]));
    await converge(h);
    const ready = cond(h, 'w1', 'Ready')!;
    await h.clock.advance(60_000);
    await h.fleet.observe();
    await h.fleet.reconcile('w1', signal());
    expect(cond(h, 'w1', 'Ready')!.lastTransitionTime).to.equal(ready.lastTransitionTime);

    h.running.sim.setFault({ kind: 'status596', path: '/cluster/resources' });
    h.running.sim.setFault({ kind: 'status596', path: '/config' });
    await h.fleet.applyDesired(loadOf([spec('w1', { cpus: 4 })]));
    await h.clock.advance(60_000);
    let err: unknown;
    await h.fleet.reconcile('w1', signal()).catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(Error);
    const st = h.store.getWorker('w1')!.status;
    expect(st.lastError).to.be.a('string');
    expect(cond(h, 'w1', 'Ready')).to.include({ status: 'False' });
    expect(cond(h, 'w1', 'Ready')!.lastTransitionTime).to.not.equal(ready.lastTransitionTime);
    expect(cond(h, 'w1', 'Reconciling')).to.include({ status: 'True', reason: 'Retrying' });

    h.running.sim.clearFaults();
    expect((await converge(h)).converged).to.equal(true);
    expect(h.store.getWorker('w1')!.status.lastError).to.equal(undefined);
    expect(vmOf(h, 'w1').config.cores).to.equal('4');
  });

  it('plan on a read-only store shows the merge without writing it', async () => {
    h = await startHarness();
    await h.fleet.applyDesired(loadOf([spec('w1')]));
    await converge(h);
    await h.store.flush();
    const ro = new MemoryStore({ volume: h.volume, readOnly: true });
    await ro.open();
    const fleet = createReconcileCore({
      client: h.client,
      store: ro,
      logger: silentLogger(),
      clock: h.clock,
      settings: h.settings,
    });
    const res = await fleet.applyDesired(loadOf([spec('w1', { cpus: 8 }), spec('w2')]));
    expect(res.plan.actions.map((a) => [a.worker, a.kind])).to.deep.equal([
      ['w1', 'configure'],
      ['w2', 'create'],
    ]);
    expect(ro.getWorker('w2')).to.equal(undefined);
    expect(ro.getWorker('w1')!.spec.cpus).to.equal(6);
  });
});
