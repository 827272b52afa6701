/**
 * Disk moves and migrations: qemu-server PVE/API2/Qemu.pm move_vm_disk (qmmove) and migrate_vm with
 * PVE/QemuMigrate.pm (qmigrate, driven by pve-guest-common PVE/AbstractMigrate.pm migrate).
 */
import { expect } from 'chai';
import type { RunningSimulator } from '../../controller/simulator/index.js';
import { call, fastSimulator, waitTask } from './helpers.js';

describe('simulator: move_disk and migrate (qemu-server PVE/API2/Qemu.pm move_vm_disk, migrate_vm; PVE/QemuMigrate.pm)', () => {
  let s: RunningSimulator;
  let next = 200;
  before(async () => {
    s = await fastSimulator();
  });
  after(() => s.close());

  /** A full clone of the template on pve1 (disks on cephpool). */
  async function vm(form: Record<string, string> = {}): Promise<number> {
    const id = next++;
    const a = await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', {
      form: { newid: String(id), full: '1', ...form },
    });
    expect((await waitTask(s, a.json.data as string)).exitstatus).to.equal('OK');
    return id;
  }
  const post = (id: number, what: string, form: Record<string, string>, node = 'pve1') =>
    call(s, 'POST', `/nodes/${node}/qemu/${id}/${what}`, { form });

  // move_vm_disk: qmmove task; the source stays as unusedN unless delete=1
  it('moves a disk to another storage in a qmmove task, keeping the source as unused0 (move_vm_disk)', async () => {
    const id = await vm();
    const a = await post(id, 'move_disk', { disk: 'scsi0', storage: 'local-lvm' });
    expect(a.json.data).to.match(new RegExp(`:qmmove:${id}:`));
    const st = await waitTask(s, a.json.data as string);
    expect(st.exitstatus).to.equal('OK');
    const v = s.sim.getVm(id);
    expect(v?.config.scsi0).to.match(new RegExp(`^local-lvm:vm-${id}-disk-0,`));
    expect(v?.config.unused0).to.equal(`cephpool:vm-${id}-disk-0`);
    const del = await post(id, 'move_disk', { disk: 'scsi0', storage: 'cephpool', delete: '1' });
    expect((await waitTask(s, del.json.data as string)).exitstatus).to.equal('OK');
    expect(s.sim.getVm(id)?.config.unused1).to.equal(undefined);
    expect(s.sim.getVm(id)?.disks.map((d) => d.volid)).to.not.include(`local-lvm:vm-${id}-disk-0`);
  });

  // $load_and_check_move, before the fork: check_lock, assert_if_modified, the disk, cdrom, same storage, images
  it('refuses a move of a locked VM, a stale digest, a CD-ROM, the same storage and a storage without images (move_vm_disk)', async () => {
    const id = await vm();
    s.sim.editVmConfig(id, { lock: 'backup' });
    expect((await post(id, 'move_disk', { disk: 'scsi0', storage: 'local-lvm' })).reason).to.equal(
      'VM is locked (backup)',
    );
    s.sim.editVmConfig(id, { lock: null, ide0: 'local:iso/x.iso,media=cdrom' });
    expect(
      (await post(id, 'move_disk', { disk: 'scsi0', storage: 'local-lvm', digest: 'a'.repeat(40) })).reason,
    ).to.equal('detected modified configuration - file changed by other user? Try again.');
    expect((await post(id, 'move_disk', { disk: 'ide0', storage: 'local-lvm' })).reason).to.equal(
      "you can't move a cdrom",
    );
    expect((await post(id, 'move_disk', { disk: 'scsi0', storage: 'cephpool' })).reason).to.equal(
      "you can't move to the same storage with same format",
    );
    const noImages = await post(id, 'move_disk', { disk: 'scsi0', storage: 'local' });
    expect(noImages.status).to.equal(400);
    expect(noImages.json.errors).to.deep.equal({ storage: "storage 'local' does not support vm images" });
    expect((await post(id, 'move_disk', { disk: 'scsi1', storage: 'local-lvm' })).reason).to.equal(
      "disk 'scsi1' does not exist",
    );
  });

  // A worker on pve2's local-lvm from a template on pve1 as PVE allows it: a local clone, then an offline
  // migration with targetstorage (QemuMigrate.pm phase1: sync_offline_local_volumes; phase3_cleanup moves the config)
  it('migrates a stopped VM offline to another node, copying its local disk to targetstorage (migrate_vm, QemuMigrate)', async () => {
    const id = await vm({ storage: 'local-lvm' });
    const a = await post(id, 'migrate', { target: 'pve2', targetstorage: 'local-lvm' });
    expect(a.json.data).to.match(new RegExp(`^UPID:pve1:.*:qmigrate:${id}:`));
    const st = await waitTask(s, a.json.data as string);
    expect(st.exitstatus).to.equal('OK');
    const v = s.sim.getVm(id);
    expect(v).to.include({ node: 'pve2', lock: undefined });
    expect(v?.config.scsi0).to.match(new RegExp(`^local-lvm:vm-${id}-disk-0,`));
    const log = (
      await call(s, 'GET', `/nodes/pve1/tasks/${encodeURIComponent(a.json.data as string)}/log?limit=0`)
    ).json.data as Array<{ t: string }>;
    const lines = log.map((l) => l.t);
    expect(lines).to.include(`starting migration of VM ${id} to node 'pve2' (10.0.0.12)`);
    expect(lines).to.include(`found local disk 'local-lvm:vm-${id}-disk-0' (attached)`);
    expect(
      lines.some((l) => /^migration finished successfully \(duration \d\d:\d\d:\d\d\)$/.test(l)),
    ).to.equal(true);
    expect((await call(s, 'GET', `/nodes/pve2/qemu/${id}/config`)).status).to.equal(200);
  });

  // migrate_vm before the fork: "target is local node.", check_node_exists, check_lock, running without online;
  // scan_local_volumes in the task: attached local disks of a running VM need with-local-disks
  it('refuses migrating to the local node, an unknown node, a locked VM and a running VM without online (migrate_vm)', async () => {
    const id = await vm({ storage: 'local-lvm' });
    const local = await post(id, 'migrate', { target: 'pve1' });
    expect(local.status).to.equal(400);
    expect(local.json.errors).to.deep.equal({ target: 'target is local node.' });
    expect((await post(id, 'migrate', { target: 'pve9' })).reason).to.equal("no such cluster node 'pve9'");
    s.sim.editVmConfig(id, { lock: 'backup' });
    expect((await post(id, 'migrate', { target: 'pve2' })).reason).to.equal('VM is locked (backup)');
    s.sim.editVmConfig(id, { lock: null });
    await waitTask(s, (await post(id, 'status/start', {})).json.data as string);
    expect((await post(id, 'migrate', { target: 'pve2' })).reason).to.equal(
      "can't migrate running VM without --online",
    );
    const online = await post(id, 'migrate', { target: 'pve2', online: '1' });
    expect(online.status).to.equal(200);
    expect((await waitTask(s, online.json.data as string)).exitstatus).to.equal('migration aborted');
    expect(s.sim.getVm(id)).to.include({ node: 'pve1', lock: undefined, status: 'running' });
    const ok = await post(id, 'migrate', { target: 'pve2', online: '1', 'with-local-disks': '1' });
    expect((await waitTask(s, ok.json.data as string)).exitstatus).to.equal('OK');
    expect(s.sim.getVm(id)).to.include({ node: 'pve2', status: 'running' });
  });

  // migrate_vm: targetstorage must exist on the target with images ($check_storage_access_migrate)
  it('checks targetstorage on the target node (migrate_vm $check_storage_access_migrate)', async () => {
    const id = await vm({ storage: 'local-lvm' });
    expect((await post(id, 'migrate', { target: 'pve2', targetstorage: 'nosuch' })).reason).to.equal(
      "storage 'nosuch' does not exist",
    );
    expect((await post(id, 'migrate', { target: 'pve2', targetstorage: 'local' })).reason).to.equal(
      "storage 'local' does not support vm images",
    );
  });
});
