import { expect } from 'chai';
import type { RunningSimulator } from '../../controller/simulator/index.js';
import { vmLockPath } from '../../controller/simulator/locks.js';
import { call, fastSimulator, rootTicket, sleepMs, waitTask } from './helpers.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC1RPXoS5zsdYY7yj0vMj5RBeWgmKeNzPnZBi9ZJn9v7 ops@example';

describe('simulator: VM config (qemu-server PVE/API2/Qemu.pm update_vm_api, PVE/QemuServer.pm)', () => {
  let s: RunningSimulator;
  let next = 400;
  before(async () => {
    s = await fastSimulator();
  });
  after(() => s.close());

  /** A fresh stopped clone of the template on pve1. */
  async function cloneVm(): Promise<number> {
    const id = next++;
    const a = await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', {
      form: { newid: String(id), name: `vm-${id}` },
    });
    expect((await waitTask(s, a.json.data as string)).exitstatus).to.equal('OK');
    return id;
  }
  const cfg = async (id: number, q = ''): Promise<Record<string, unknown>> =>
    (await call(s, 'GET', `/nodes/pve1/qemu/${id}/config${q}`)).json.data as Record<string, unknown>;
  const put = (id: number, form: Record<string, string>) =>
    call(s, 'PUT', `/nodes/pve1/qemu/${id}/config`, { form });

  it('types output: integers as numbers, memory and property strings as strings, booleans 0/1', async () => {
    const id = await cloneVm();
    await put(id, { onboot: '1', cpulimit: '2' });
    const c = await cfg(id);
    expect(c.cores).to.equal(2);
    expect(c.memory).to.equal('4096');
    expect(c.onboot).to.equal(1);
    expect(c.cpulimit).to.equal('2');
    expect(c.agent).to.equal('1');
    expect(c.digest).to.match(/^[0-9a-f]{40}$/);
  });

  it('normalises tags, trims values and the description, masks cipassword', async () => {
    const id = await cloneVm();
    await put(id, {
      tags: 'Worker,k8s;worker backup',
      description: 'hello world  \n\n',
      ciuser: '  admin ',
      cipassword: 'S3cret!',
    });
    const c = await cfg(id);
    expect(c.tags).to.equal('backup;k8s;worker');
    expect(c.description).to.equal('hello world');
    expect(c.ciuser).to.equal('admin');
    expect(c.cipassword).to.equal('**********');
    expect(JSON.stringify(s.sim.callLog())).to.not.contain('S3cret!');
  });

  it('rewrites net[n] to the canonical form with a generated BC:24:11 MAC, keeping a given MAC', async () => {
    const id = await cloneVm();
    await put(id, { net1: 'model=virtio,tag=20,bridge=vmbr1,firewall=1' });
    const c = await cfg(id);
    expect(c.net1).to.match(
      /^virtio=BC:24:11:[0-9A-F]{2}:[0-9A-F]{2}:[0-9A-F]{2},bridge=vmbr1,firewall=1,tag=20$/,
    );
    await put(id, { net1: 'e1000=BC:24:11:AA:BB:CC,bridge=vmbr0' });
    expect((await cfg(id)).net1).to.equal('e1000=BC:24:11:AA:BB:CC,bridge=vmbr0');
  });

  it('gives every clone NIC a fresh MAC', async () => {
    const a = await cloneVm();
    const b = await cloneVm();
    const tmpl = (await cfg(9000)).net0 as string;
    const macs = [tmpl, (await cfg(a)).net0, (await cfg(b)).net0].map((n) => String(n).split(',')[0]);
    expect(new Set(macs).size).to.equal(3);
  });

  it('stores sshkeys percent-encoded and validates them as SSH keys', async () => {
    const id = await cloneVm();
    const enc = encodeURIComponent(KEY);
    expect((await put(id, { sshkeys: enc })).status).to.equal(200);
    expect((await cfg(id)).sshkeys).to.equal(enc);
    const bad = await put(id, { sshkeys: encodeURIComponent('ssh-ed25519 notbase64!! x') });
    expect(bad.status).to.equal(500);
    expect(bad.reason).to.equal('SSH public key validation error');
  });

  it('changes the digest on every write and refuses a stale digest', async () => {
    const id = await cloneVm();
    const d1 = (await cfg(id)).digest as string;
    await put(id, { tags: 'a' });
    const d2 = (await cfg(id)).digest as string;
    expect(d2).to.not.equal(d1);
    const stale = await put(id, { tags: 'b', digest: d1 });
    expect(stale.status).to.equal(500);
    expect(stale.reason).to.equal('checksum mismatch (file change by other user?)');
    expect((await put(id, { tags: 'b', digest: d2 })).status).to.equal(200);
  });

  // update_vm_api: $load_and_check_config runs early and again inside lock_config, so of two writes that
  // carry the same digest, the later one to get the VM's flock fails
  it('of two concurrent PUTs with one digest, the later gets "checksum mismatch" under the flock (update_vm_api)', async () => {
    const id = await cloneVm();
    const digest = (await cfg(id)).digest as string;
    const hold = await s.sim.flocks.acquire(vmLockPath(id), 'exclusive', 1000);
    const first = put(id, { tags: 'first', digest });
    const second = put(id, { tags: 'second', digest });
    await sleepMs(20); // both passed the early check and wait for the flock
    hold();
    const [a, b] = await Promise.all([first, second]);
    expect(a.status).to.equal(200);
    expect(b.status).to.equal(500);
    expect(b.reason).to.equal('checksum mismatch (file change by other user?)');
    expect((await cfg(id)).tags).to.equal('first');
  });

  it('keeps cores/memory pending on a running VM, applies name and cloud-init at once, reboot applies pending', async () => {
    const id = await cloneVm();
    await waitTask(s, (await call(s, 'POST', `/nodes/pve1/qemu/${id}/status/start`)).json.data as string);
    await put(id, { cores: '8', memory: '8192', name: 'renamed', ipconfig0: 'ip=10.0.0.77/24,gw=10.0.0.1' });
    const pendingView = await cfg(id);
    expect(pendingView.cores).to.equal(8);
    expect(pendingView.name).to.equal('renamed');
    const current = await cfg(id, '?current=1');
    expect(current.cores).to.equal(2);
    expect(current.memory).to.equal('4096');
    expect(current.name).to.equal('renamed');
    expect(current.ipconfig0).to.equal('ip=10.0.0.77/24,gw=10.0.0.1');
    const pending = (await call(s, 'GET', `/nodes/pve1/qemu/${id}/pending`)).json.data as Array<
      Record<string, unknown>
    >;
    const cores = pending.find((p) => p.key === 'cores');
    expect(cores).to.include({ value: 2, pending: 8 });
    expect(s.sim.getVm(id)?.pending).to.deep.equal({ cores: '8', memory: '8192' });
    await waitTask(s, (await call(s, 'POST', `/nodes/pve1/qemu/${id}/status/reboot`)).json.data as string);
    expect(s.sim.getVm(id)?.pending).to.deep.equal({});
    expect((await cfg(id, '?current=1')).cores).to.equal(8);
  });

  // qemu-server PVE/API2/Qemu.pm update_vm_api: $load_and_check_config runs check_lock unless skiplock,
  // and skiplock is raise_param_exc "Only root may use this option." for anyone but root@pam
  it('refuses every change to a locked VM, delete=lock included; skiplock only for root@pam itself (update_vm_api)', async () => {
    const id = await cloneVm();
    await put(id, { lock: 'backup' });
    const a = await put(id, { cores: '3' });
    expect(a.status).to.equal(500);
    expect(a.reason).to.equal('VM is locked (backup)');
    const unlock = await put(id, { delete: 'lock' });
    expect(unlock.status).to.equal(500);
    expect(unlock.reason).to.equal('VM is locked (backup)');
    const token = await put(id, { delete: 'lock', skiplock: '1' });
    expect(token.status).to.equal(400);
    expect(token.json.errors).to.deep.equal({ skiplock: 'Only root may use this option.' });
    expect(s.sim.getVm(id)?.lock).to.equal('backup');
    const root = await call(s, 'PUT', `/nodes/pve1/qemu/${id}/config`, {
      form: { delete: 'lock', skiplock: '1' },
      headers: await rootTicket(s),
    });
    expect(root.status).to.equal(200);
    expect(s.sim.getVm(id)?.lock).to.equal(undefined);
    expect((await put(id, { cores: '3' })).status).to.equal(200);
  });

  it('deletes keys with delete= (list with , ; or spaces) and refuses set+delete of one key', async () => {
    const id = await cloneVm();
    await put(id, { onboot: '1', protection: '0', ciuser: 'x' });
    expect((await put(id, { delete: 'onboot;protection ciuser' })).status).to.equal(200);
    const c = await cfg(id);
    expect(c).to.not.have.any.keys('onboot', 'protection', 'ciuser');
    // update_vm_api: option_exists, and the set/delete/revert conflicts, with its texts
    const unknown = await put(id, { delete: 'colour' });
    expect(unknown.status).to.equal(400);
    expect(unknown.json.errors?.delete).to.equal("unknown option 'colour'");
    expect((await put(id, { revert: 'colour' })).json.errors?.revert).to.equal("unknown option 'colour'");
    const both = await put(id, { cores: '2', delete: 'cores' });
    expect(both.status).to.equal(400);
    expect(both.json.errors?.delete).to.equal("you can't use '-cores' and -delete cores' at the same time");
    expect((await put(id, {})).reason).to.equal('no options specified');
  });

  it('answers POST config with a qmconfig UPID, PUT config with null', async () => {
    const id = await cloneVm();
    const a = await call(s, 'POST', `/nodes/pve1/qemu/${id}/config`, { form: { cores: '6' } });
    expect(a.json.data).to.match(new RegExp(`:qmconfig:${id}:`));
    expect((await waitTask(s, a.json.data as string)).exitstatus).to.equal('OK');
    expect((await cfg(id)).cores).to.equal(6);
  });

  it('resizes disks as a task; shrinking is a task error', async () => {
    const id = await cloneVm();
    const grow = await call(s, 'PUT', `/nodes/pve1/qemu/${id}/resize`, {
      form: { disk: 'scsi0', size: '+20G' },
    });
    expect((await waitTask(s, grow.json.data as string)).exitstatus).to.equal('OK');
    expect((await cfg(id)).scsi0).to.match(/size=120G/);
    expect(s.sim.getVm(id)?.disks.find((d) => d.key === 'scsi0')?.sizeGiB).to.equal(120);
    const shrink = await call(s, 'PUT', `/nodes/pve1/qemu/${id}/resize`, {
      form: { disk: 'scsi0', size: '50G' },
    });
    expect(shrink.status).to.equal(200);
    expect((await waitTask(s, shrink.json.data as string)).exitstatus).to.equal(
      'shrinking disks is not supported',
    );
  });

  it('reaches the guest with cloud-init changes only at the next boot', async () => {
    const id = await cloneVm();
    await put(id, { ipconfig0: 'ip=10.0.0.61/24,gw=10.0.0.1' });
    await waitTask(s, (await call(s, 'POST', `/nodes/pve1/qemu/${id}/status/start`)).json.data as string);
    await put(id, { ipconfig0: 'ip=10.0.0.62/24,gw=10.0.0.1' });
    let ips = '';
    for (let i = 0; i < 100 && !ips; i++) {
      const a = await call(s, 'GET', `/nodes/pve1/qemu/${id}/agent/network-get-interfaces`);
      if (a.status === 200) ips = JSON.stringify(a.json.data);
      else await sleepMs(5);
    }
    expect(ips).to.contain('10.0.0.61').and.not.contain('10.0.0.62');
  });

  // qemu-server PVE/QemuServer/Cloudinit.pm generate_cloudinit_config: data only for a vm-<vmid>-cloudinit
  // volume; without one the guest keeps its image's network config (ASSUMPTION: DHCP on net0)
  it('never brings ipconfig to a guest without a cloud-init drive: it gets DHCP on net0 (generate_cloudinit_config)', async () => {
    const id = await cloneVm();
    await put(id, {
      delete: 'ide2',
      ipconfig0: 'ip=10.0.0.63/24,gw=10.0.0.1',
      net1: 'virtio,bridge=vmbr0',
      ipconfig1: 'ip=10.0.0.64/24',
    });
    await waitTask(s, (await call(s, 'POST', `/nodes/pve1/qemu/${id}/status/start`)).json.data as string);
    let ifaces: Array<{ name: string; 'ip-addresses': Array<{ 'ip-address': string }> }> = [];
    for (let i = 0; i < 200 && ifaces.length === 0; i++) {
      const a = await call(s, 'GET', `/nodes/pve1/qemu/${id}/agent/network-get-interfaces`);
      if (a.status === 200) ifaces = (a.json.data as { result: typeof ifaces }).result;
      else await sleepMs(5);
    }
    const v4 = (n: string): string[] =>
      (ifaces.find((i) => i.name === n)?.['ip-addresses'] ?? [])
        .map((x) => x['ip-address'])
        .filter((x) => x.includes('.'));
    expect(v4('eth0')).to.have.length(1);
    expect(v4('eth0')[0]).to.match(/^10\.0\.0\.(1\d\d|2\d\d)$/); // a lease, not 10.0.0.63
    expect(v4('eth1')).to.deep.equal([]);
  });
});
