/**
 * The clone as qemu-server src/PVE/API2/Qemu.pm clone_vm runs it: the checks of $load_and_check before the
 * fork, the 1 s config locks of $lock_source_vm/$lock_target_vm, the temporary config of $clonefn, the
 * move to the target node at the very end; and /cluster/resources as pve-manager PVE/API2/Cluster.pm
 * resources shows a fresh VM (PVE/API2Tools.pm extract_vm_stats, pvestatd's 10 s broadcasts).
 */
import { expect } from 'chai';
import type { RunningSimulator, WorldConfig } from '../../controller/simulator/index.js';
import { defaultWorld } from '../../controller/simulator/index.js';
import { vmLockPath } from '../../controller/simulator/locks.js';
import { call, fastSimulator, sleepMs, until, waitTask } from './helpers.js';

/** The default world with copies of about 200 ms (10 GiB at 50 GiB/s), so a clone can be watched while it runs. */
function slowWorld(): WorldConfig {
  const world = defaultWorld();
  world.latencies = { cloneGiBps: 50 };
  return world;
}

describe('simulator: clone (qemu-server PVE/API2/Qemu.pm clone_vm)', () => {
  let s: RunningSimulator;
  before(async () => {
    s = await fastSimulator();
  });
  after(() => s.close());

  const clone = (vmid: number, form: Record<string, string>, node = 'pve1') =>
    call(s, 'POST', `/nodes/${node}/qemu/${vmid}/clone`, { form });

  // $load_and_check: with `target`, storage_check_enabled on the target, then
  // die "can't clone to non-shared storage '$storage'" - before any task exists
  it('refuses target with a non-shared storage at once: 500 "can\'t clone to non-shared storage" ($load_and_check)', async () => {
    const tasksBefore = s.sim.tasks.all().length;
    const a = await clone(9000, { newid: '700', target: 'pve2', storage: 'local-lvm', full: '1' });
    expect(a.status).to.equal(500);
    expect(a.reason).to.equal("can't clone to non-shared storage 'local-lvm'");
    expect(s.sim.tasks.all().length).to.equal(tasksBefore);
    expect(s.sim.getVm(700)).to.equal(undefined);
  });

  // $load_and_check: raise_param_exc({ storage => "storage '$storage' does not support vm images" })
  it('answers 400 with errors.storage for a storage without images content ($load_and_check)', async () => {
    const a = await clone(9000, { newid: '701', storage: 'local', full: '1' });
    expect(a.status).to.equal(400);
    expect(a.json.errors).to.deep.equal({ storage: "storage 'local' does not support vm images" });
    const missing = await clone(9000, { newid: '701', storage: 'nosuch', full: '1' });
    expect(missing.reason).to.equal("storage 'nosuch' does not exist"); // PVE/Storage.pm storage_config
  });

  // $check_storage_access_clone: any drive, CD-ROM and cloud-init included, on a non-shared storage
  it('refuses a cross-node clone when a CD-ROM or the cloud-init drive is on local storage ($check_storage_access_clone)', async () => {
    s.sim.createForeignVm({
      vmid: 710,
      node: 'pve1',
      name: 'iso-template',
      config: {
        scsi0: 'cephpool:vm-710-disk-0,size=8G',
        ide0: 'local:iso/rocky.iso,media=cdrom',
        template: 1,
      },
    });
    const cd = await clone(710, { newid: '711', target: 'pve2', full: '1', storage: 'cephpool' });
    expect(cd.status).to.equal(500);
    expect(cd.reason).to.equal("can't clone VM to node 'pve2' (VM uses local storage)");
    s.sim.createForeignVm({
      vmid: 712,
      node: 'pve1',
      name: 'ci-template',
      config: { scsi0: 'cephpool:vm-712-disk-0,size=8G', ide2: 'local-lvm:vm-712-cloudinit,media=cdrom' },
    });
    const ci = await clone(712, { newid: '713', target: 'pve2', storage: 'cephpool' });
    expect(ci.reason).to.equal("can't clone VM to node 'pve2' (VM uses local storage)");
    // without target the same source clones fine
    const local = await clone(712, { newid: '713', storage: 'cephpool' });
    expect((await waitTask(s, local.json.data as string)).exitstatus).to.equal('OK');
    expect(s.sim.getVm(713)?.config.ide2).to.equal('cephpool:vm-713-cloudinit,media=cdrom');
  });

  // $load_and_check: die "parameter 'storage' not allowed for linked clones" (a 500); volume_has_feature 'clone'
  it('makes a linked clone with storage a 500, and a linked clone of a non-template impossible ($load_and_check)', async () => {
    const a = await clone(9000, { newid: '714', storage: 'cephpool' });
    expect(a.status).to.equal(500);
    expect(a.reason).to.equal("parameter 'storage' not allowed for linked clones");
    const b = await clone(713, { newid: '715', full: '0' });
    expect(b.status).to.equal(500);
    expect(b.reason).to.equal("Linked clone feature is not supported for 'cephpool:vm-713-disk-0' (scsi0)");
  });

  // fork_worker comes before any config is written: the UPID exists, the VM does not yet
  it('forks the task before the new VM exists; the config locks wait 1 s, not 10 ($lock_target_vm)', async () => {
    const world = defaultWorld();
    world.latencies = { secondMs: 40 }; // one PVE second = 40 real ms
    const w = await fastSimulator({ world });
    try {
      const hold = await w.sim.flocks.acquire(vmLockPath(720), 'exclusive', 1000);
      const a = await call(w, 'POST', '/nodes/pve1/qemu/9000/clone', { form: { newid: '720' } });
      expect(a.json.data).to.match(/:qmclone:9000:/);
      const cfg = await call(w, 'GET', '/nodes/pve1/qemu/720/config');
      expect(cfg.reason).to.equal("Configuration file 'nodes/pve1/qemu-server/720.conf' does not exist");
      await sleepMs(120); // 3 PVE seconds: beyond lock_config_full's 1 s, within lock_config's 10 s
      hold();
      // the lock failure happens outside $clonefn's eval: no "clone failed:" prefix, nothing to clean up
      expect((await waitTask(w, a.json.data as string)).exitstatus).to.equal(
        "can't lock file '/var/lock/qemu-server/lock-720.conf' - got timeout",
      );
      expect(w.sim.getVm(720)).to.equal(undefined);
    } finally {
      await w.close();
    }
  });

  // $clonefn: file_set_contents($conffile, "# qmclone temporary file\nlock: clone\n") on this node, then
  // write_config of the new config (name, description, disks so far) after each disk
  it('writes a temporary config without a name first, the name after the first disk, unlocks at the end ($clonefn)', async () => {
    const world = slowWorld();
    const t = world.templates?.[0];
    if (t?.config) delete t.config.ide2; // a template with one disk: the temporary config lasts the copy
    const w = await fastSimulator({ world });
    try {
      const a = await call(w, 'POST', '/nodes/pve1/qemu/9000/clone', {
        form: { newid: '730', full: '1', name: 'w1', description: 'ours' },
      });
      await until(() => w.sim.getVm(730) !== undefined);
      const tmp = (await call(w, 'GET', '/nodes/pve1/qemu/730/config')).json.data as Record<string, unknown>;
      expect(tmp).to.include({ lock: 'clone', description: ' qmclone temporary file' });
      expect(tmp).to.not.have.any.keys('name', 'scsi0', 'net0');
      const listed = (await call(w, 'GET', '/nodes/pve1/qemu')).json.data as Array<Record<string, unknown>>;
      expect(listed.find((v) => v.vmid === 730)).to.include({ name: 'VM 730', lock: 'clone' });
      expect((await waitTask(w, a.json.data as string, 20000)).exitstatus).to.equal('OK');
      const done = (await call(w, 'GET', '/nodes/pve1/qemu/730/config')).json.data as Record<string, unknown>;
      expect(done).to.include({ name: 'w1', description: 'ours' });
      expect(done).to.not.have.any.keys('lock');
    } finally {
      await w.close();
    }
  });

  it('with the default template: during the disk copy the config has the name and cloud-init drive but no disk yet', async () => {
    const w = await fastSimulator({ world: slowWorld() });
    try {
      const a = await call(w, 'POST', '/nodes/pve1/qemu/9000/clone', { form: { newid: '731', full: '1' } });
      await until(() => w.sim.getVm(731)?.name !== undefined);
      const mid = w.sim.getVm(731);
      expect(mid?.config).to.include({ lock: 'clone', ide2: 'cephpool:vm-731-cloudinit,media=cdrom' });
      expect(mid?.config.scsi0).to.equal(undefined);
      expect((await waitTask(w, a.json.data as string, 20000)).exitstatus).to.equal('OK');
    } finally {
      await w.close();
    }
  });

  // $clonefn: with target, rename($conffile, $newconffile) is the last step
  it('keeps a cross-node clone on the source node until the end, then moves it to the target ($clonefn)', async () => {
    const w = await fastSimulator({ world: slowWorld() });
    try {
      const a = await call(w, 'POST', '/nodes/pve1/qemu/9000/clone', {
        form: { newid: '740', target: 'pve3', full: '1', name: 'x' },
      });
      expect(a.json.data).to.match(/^UPID:pve1:/);
      await until(() => w.sim.getVm(740)?.name === 'x');
      expect((await call(w, 'GET', '/nodes/pve1/qemu/740/config')).status).to.equal(200);
      expect((await call(w, 'GET', '/nodes/pve3/qemu/740/config')).status).to.equal(500);
      expect((await waitTask(w, a.json.data as string, 20000)).exitstatus).to.equal('OK');
      expect(w.sim.getVm(740)?.node).to.equal('pve3');
      expect((await call(w, 'GET', '/nodes/pve1/qemu/740/config')).status).to.equal(500);
    } finally {
      await w.close();
    }
  });

  // PVE::File::file_set_contents renames the temporary file into place; pmxcfs refuses a vmid that exists on
  // another node, and that happens outside $clonefn's eval
  it('lets a clone to a vmid taken on another node start, and fails its task at the temporary config', async () => {
    s.sim.createForeignVm({ vmid: 750, node: 'pve2', name: 'elsewhere' });
    const a = await clone(9000, { newid: '750' });
    expect(a.status).to.equal(200);
    expect((await waitTask(s, a.json.data as string)).exitstatus).to.equal(
      "close (rename) atomic file '/etc/pve/nodes/pve1/qemu-server/750.conf' failed: File exists",
    );
    expect(s.sim.getVm(750)?.node).to.equal('pve2');
  });

  // pve-manager PVE/API2/Cluster.pm resources + PVE/API2Tools.pm extract_vm_stats: status 'unknown' and no
  // name until pvestatd's next broadcast (PVE/Service/pvestatd.pm, every 10 s); lock is read fresh
  it('shows a fresh clone in /cluster/resources as status unknown without a name until the next broadcast (extract_vm_stats)', async () => {
    const world = defaultWorld();
    world.latencies = { statsInterval: 1500 };
    const w = await fastSimulator({ world });
    try {
      const a = await call(w, 'POST', '/nodes/pve1/qemu/9000/clone', {
        form: { newid: '760', name: 'fresh' },
      });
      await waitTask(w, a.json.data as string);
      const row = async (): Promise<Record<string, unknown> | undefined> =>
        (
          (await call(w, 'GET', '/cluster/resources?type=vm')).json.data as Array<Record<string, unknown>>
        ).find((r) => r.vmid === 760);
      const first = await row();
      expect(first).to.include({ id: 'qemu/760', node: 'pve1', status: 'unknown' });
      expect(first).to.not.have.any.keys('name');
      await until(async () => (await row())?.name === 'fresh', 3000);
      expect(await row()).to.include({ status: 'stopped', name: 'fresh' });
    } finally {
      await w.close();
    }
  });

  it('shows /cluster/resources fresh when the world opts out of the lag', async () => {
    const world = defaultWorld();
    world.resourcesLag = false;
    const w = await fastSimulator({ world });
    try {
      const a = await call(w, 'POST', '/nodes/pve1/qemu/9000/clone', { form: { newid: '761', name: 'now' } });
      await waitTask(w, a.json.data as string);
      const rows = (await call(w, 'GET', '/cluster/resources?type=vm')).json.data as Array<
        Record<string, unknown>
      >;
      expect(rows.find((r) => r.vmid === 761)).to.include({ name: 'now', status: 'stopped' });
    } finally {
      await w.close();
    }
  });
});
