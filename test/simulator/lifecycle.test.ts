import { expect } from 'chai';
import type { RunningSimulator } from '../../controller/simulator/index.js';
import { call, fastSimulator, until, waitTask } from './helpers.js';

describe('simulator: create, clone, delete (qemu-server PVE/API2/Qemu.pm create_vm, clone_vm, destroy_vm)', () => {
  let s: RunningSimulator;
  before(async () => {
    s = await fastSimulator();
  });
  after(() => s.close());

  it('creates a VM: config locked (create) synchronously, disks allocated by the task', async () => {
    // The fast profile's 2-6 ms create could end before the lock is looked at on a loaded machine.
    s.sim.setFault({ kind: 'slowTask', taskType: 'qmcreate', factor: 200, count: 1 });
    const a = await call(s, 'POST', '/nodes/pve2/qemu', {
      form: {
        vmid: '500',
        name: 'made',
        memory: '2048',
        cores: '2',
        scsi0: 'local-lvm:8',
        ide2: 'local-lvm:cloudinit',
        net0: 'virtio,bridge=vmbr0',
      },
    });
    expect(a.json.data).to.match(/:qmcreate:500:/);
    expect(s.sim.getVm(500)?.lock).to.equal('create');
    expect((await waitTask(s, a.json.data as string)).exitstatus).to.equal('OK');
    const vm = s.sim.getVm(500);
    expect(vm?.lock).to.equal(undefined);
    expect(vm?.config.scsi0).to.equal('local-lvm:vm-500-disk-0,size=8G');
    expect(vm?.config.ide2).to.equal('local-lvm:vm-500-cloudinit,media=cdrom');
    expect(vm?.config.net0).to.match(/^virtio=BC:24:11:/);
    expect(vm?.config.smbios1).to.match(/^uuid=/);
  });

  it('refuses a create with a taken vmid synchronously, naming the node', async () => {
    const a = await call(s, 'POST', '/nodes/pve1/qemu', { form: { vmid: '9000' } });
    expect(a.status).to.equal(500);
    expect(a.reason).to.equal("unable to create VM 9000 - VM 9000 already exists on node 'pve1'");
  });

  it('answers 403 for a pool that does not exist', async () => {
    const a = await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', {
      form: { newid: '501', pool: 'nosuchpool' },
    });
    expect(a.status).to.equal(403);
    expect(a.reason).to.equal("Permission check failed (pool 'nosuchpool' does not exist)");
    const ok = await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', {
      form: { newid: '501', pool: 'workers' },
    });
    await waitTask(s, ok.json.data as string);
    expect(s.sim.getVm(501)?.pool).to.equal('workers');
  });

  it('names the clone Copy-of-VM-<source> by default; the UPID id is the source; lock clone while copying', async () => {
    s.sim.setFault({ kind: 'slowTask', taskType: 'qmclone', factor: 20, count: 1 });
    const a = await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', { form: { newid: '502', full: '1' } });
    expect(a.json.data).to.match(/:qmclone:9000:/);
    await until(() => s.sim.getVm(502)?.name !== undefined);
    const during = s.sim.getVm(502);
    expect(during?.lock).to.equal('clone');
    expect(during?.name).to.equal('Copy-of-VM-worker-template');
    const res = (await call(s, 'GET', '/cluster/resources?type=vm')).json.data as Array<
      Record<string, unknown>
    >;
    expect(res.find((r) => r.vmid === 502)?.lock).to.equal('clone'); // lock is read fresh from the config
    const put = await call(s, 'PUT', '/nodes/pve1/qemu/502/config', { form: { cores: '2' } });
    expect(put.reason).to.equal('VM is locked (clone)');
    await waitTask(s, a.json.data as string);
    expect(s.sim.getVm(502)?.lock).to.equal(undefined);
  });

  it('makes linked clones of templates by default and full clones on request; storage is refused for linked clones', async () => {
    const linked = await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', { form: { newid: '503' } });
    await waitTask(s, linked.json.data as string);
    expect(s.sim.getVm(503)?.config.scsi0).to.match(/^cephpool:base-9000-disk-0\/vm-503-disk-0,/);
    const full = await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', {
      form: { newid: '504', full: '1', storage: 'local-lvm' },
    });
    await waitTask(s, full.json.data as string);
    const disk = s.sim.getVm(504)?.disks.find((d) => d.key === 'scsi0');
    expect(disk).to.include({
      volid: 'local-lvm:vm-504-disk-0',
      storage: 'local-lvm',
      usedGiB: 10,
      sizeGiB: 100,
    });
    const bad = await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', {
      form: { newid: '505', full: '0', storage: 'local-lvm' },
    });
    // clone_vm's $load_and_check: a plain die, so a 500
    expect(bad.status).to.equal(500);
    expect(bad.reason).to.equal("parameter 'storage' not allowed for linked clones");
  });

  it('allows target only for VMs on shared storage', async () => {
    const a = await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', {
      form: { newid: '506', target: 'pve3', full: '1' },
    });
    await waitTask(s, a.json.data as string);
    expect(s.sim.getVm(506)?.node).to.equal('pve3');
    const local = await call(s, 'POST', '/nodes/pve1/qemu/504/clone', {
      form: { newid: '507', target: 'pve2' },
    });
    expect(local.status).to.equal(500);
    expect(local.reason).to.equal("can't clone VM to node 'pve2' (VM uses local storage)");
  });

  it('refuses to clone a locked source and to reuse an existing newid', async () => {
    s.sim.editVmConfig(504, { lock: 'backup' });
    expect((await call(s, 'POST', '/nodes/pve1/qemu/504/clone', { form: { newid: '508' } })).reason).to.equal(
      'VM is locked (backup)',
    );
    s.sim.editVmConfig(504, { lock: null });
    expect(
      (await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', { form: { newid: '504' } })).reason,
    ).to.equal('unable to create VM 504: config file already exists');
  });

  it('reports a failed clone as "clone failed:" and removes the new VM', async () => {
    s.sim.setFault({ kind: 'lockTimeout', taskType: 'qmclone', count: 1 });
    const a = await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', { form: { newid: '509', full: '1' } });
    const st = await waitTask(s, a.json.data as string);
    expect(st.exitstatus).to.equal(
      "clone failed: can't lock file '/var/lock/pve-manager/pve-storage-cephpool' - got timeout",
    );
    expect(s.sim.getVm(509)).to.equal(undefined);
  });

  it('refuses to delete running or protected VMs synchronously; missing VMs are a 500', async () => {
    await waitTask(s, (await call(s, 'POST', '/nodes/pve1/qemu/503/status/start')).json.data as string);
    const running = await call(s, 'DELETE', '/nodes/pve1/qemu/503');
    expect(running.status).to.equal(500);
    expect(running.reason).to.equal('VM 503 is running - destroy failed');
    s.sim.editVmConfig(501, { protection: 1 });
    expect((await call(s, 'DELETE', '/nodes/pve1/qemu/501')).reason).to.equal(
      "can't remove VM 501 - protection mode enabled",
    );
    expect((await call(s, 'DELETE', '/nodes/pve1/qemu/999')).reason).to.equal(
      "Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist",
    );
  });

  it('fails the destroy task on a config lock and removes the VM from its pool on success', async () => {
    s.sim.editVmConfig(501, { protection: null, lock: 'backup' });
    const locked = await call(s, 'DELETE', '/nodes/pve1/qemu/501');
    expect((await waitTask(s, locked.json.data as string)).exitstatus).to.equal('VM is locked (backup)');
    s.sim.editVmConfig(501, { lock: null });
    const ok = await call(s, 'DELETE', '/nodes/pve1/qemu/501?purge=1');
    expect((await waitTask(s, ok.json.data as string)).exitstatus).to.equal('OK');
    expect((s.sim.state().pools as Record<string, number[]>).workers).to.not.include(501);
  });

  it('requires purge to delete HA-managed VMs', async () => {
    const c = await call(s, 'POST', '/nodes/pve1/qemu', { form: { vmid: '510', 'ha-managed': '1' } });
    await waitTask(s, c.json.data as string);
    expect((await call(s, 'DELETE', '/nodes/pve1/qemu/510')).reason).to.equal(
      'unable to remove VM 510 - used in HA resources and purge parameter not set.',
    );
    const ok = await call(s, 'DELETE', '/nodes/pve1/qemu/510?purge=1');
    expect((await waitTask(s, ok.json.data as string)).exitstatus).to.equal('OK');
  });

  it('does not reserve ids in nextid', async () => {
    const a = (await call(s, 'GET', '/cluster/nextid')).json.data;
    const b = (await call(s, 'GET', '/cluster/nextid')).json.data;
    expect(a).to.equal(b);
  });
});
