/**
 * The Proxmox client contract: one sequence of operations covering every ProxmoxClient method, written
 * only against the client and a Target, so it runs unchanged against the simulator and a real PVE.
 */
import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import {
  AlreadyExistsError,
  AgentUnavailableError,
  ChecksumMismatchError,
  NotFoundError,
} from '../../../controller/errors.js';
import type { ProxmoxClient } from '../../../controller/proxmox/client.js';
import type { TaskRef } from '../../../controller/proxmox/types.js';

/** Where the contract runs. */
export interface Target {
  client: ProxmoxClient;
  node: string;
  templateVmid: number;
  storage: string;
  /** Generous for a real PVE, short for the simulator. */
  taskTimeoutMs: number;
  agentTimeoutMs: number;
  /** A second storage with VM images on `node` (move_disk there and back); skipped when absent. */
  moveStorage?: string;
  /** A second node with `storage` (offline migration there); skipped when absent. */
  migrateNode?: string;
}

/** A real OpenSSH ed25519 public key (PVE validates sshkeys with ssh-keygen). */
export function sshPublicKey(comment: string): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const field = (b: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length, 0);
    return Buffer.concat([len, b]);
  };
  const blob = Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]);
  return `ssh-ed25519 ${blob.toString('base64')} ${comment}`;
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${String(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** First disk key of a config (not a cdrom). */
function firstDisk(values: Record<string, string>): string | undefined {
  return Object.keys(values)
    .filter((k) => /^(scsi|virtio|sata|ide)\d+$/.test(k) && !/media=cdrom|cloudinit/.test(values[k]!))
    .sort()[0];
}

/** Registers the contract's it() blocks; `target()` is read when they run. */
export function defineClientContract(target: () => Target): void {
  let vmid = 0;
  let created = 0;
  /** The node the cloned VM is on (a migration moves it). */
  let at = '';
  let cloneTask: TaskRef | undefined;
  const name = `wctl-contract-${process.pid}`;
  const wait = async (task: TaskRef) => {
    const t = target();
    return t.client.waitForTask(task, { timeoutMs: t.taskTimeoutMs });
  };

  it('version, nodes, storages, cluster resources', async () => {
    const { client, node, storage, templateVmid } = target();
    const v = await client.version();
    expect(v.version).to.match(/^\d+\.\d+/);
    expect(v.release).to.match(/^\d+\.\d+/);
    const nodes = await client.nodes();
    const me = nodes.find((n) => n.node === node);
    expect(me, `node ${node} listed`).to.not.equal(undefined);
    expect(me!.status).to.equal('online');
    expect(me!.sslFingerprint ?? 'AA:'.repeat(31) + 'AA').to.match(/^([A-F0-9]{2}:){31}[A-F0-9]{2}$/i);
    const storages = await client.storages(node, { content: 'images', enabled: true });
    expect(storages.map((s) => s.storage)).to.include(storage);
    expect(storages.every((s) => s.content.includes('images'))).to.equal(true);
    const res = await client.vmResources();
    const tpl = res.find((r) => r.vmid === templateVmid);
    expect(tpl, 'template in /cluster/resources').to.not.equal(undefined);
    expect(tpl).to.include({ type: 'qemu', template: true });
  });

  it('nextid: a free id, and AlreadyExistsError for a taken one', async () => {
    const { client, templateVmid } = target();
    vmid = await client.nextId();
    expect(vmid).to.be.within(100, 999_999_999);
    expect(await client.nextId(vmid)).to.equal(vmid);
    const err = await client.nextId(templateVmid).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(AlreadyExistsError);
  });

  it('clone: a task whose id is the source, then the VM exists', async () => {
    const { client, node, templateVmid, storage } = target();
    const task = await client.clone(node, templateVmid, { newid: vmid, name, full: true, storage });
    expect(task.upid).to.match(/^UPID:/);
    cloneTask = task;
    at = node;
    const st = await wait(task);
    expect(st).to.include({ status: 'stopped', succeeded: true, type: 'qmclone', id: String(templateVmid) });
    const cfg = await client.getConfig(node, vmid);
    expect(cfg.values.name).to.equal(name);
    expect(cfg.digest).to.match(/^[0-9a-f]{40}$/);
    expect(cfg.values.memory).to.match(/^\d+$/); // numbers and strings both come back as strings
  });

  it("tasks: the clone is in its node's task list under the template's id; its log names the new vmid", async () => {
    // pve-manager PVE/API2/Tasks.pm node_tasks; qemu-server PVE/API2/Qemu.pm clone_vm prints the line.
    const { client, node, templateVmid } = target();
    const since = Math.floor(Date.now() / 1000) - 3600;
    const listed = await client.tasks(node, {
      source: 'all',
      type: 'qmclone',
      vmid: templateVmid,
      since,
      limit: 500,
    });
    const mine = listed.find((t) => t.upid === cloneTask!.upid);
    expect(mine, 'the clone task listed').to.not.equal(undefined);
    expect(mine).to.include({ type: 'qmclone', id: String(templateVmid), running: false, exitStatus: 'OK' });
    const log = await client.taskLog(cloneTask!, { start: 0, limit: 20 });
    expect(log.lines.join('\n')).to.contain(`creating a clone of VM ${templateVmid} with ID ${vmid}`);
  });

  it('cluster status: every node with its address; the node we talk to is local', async () => {
    // pve-manager PVE/API2/Cluster.pm get_status.
    const { client, node } = target();
    const nodes = await client.clusterNodes();
    const me = nodes.find((n) => n.name === node);
    expect(me, `node ${node} in /cluster/status`).to.not.equal(undefined);
    expect(me!.online).to.equal(true);
    expect(me!.ip).to.match(/^[0-9a-f.:]+$/i);
    expect(nodes.filter((n) => n.local)).to.have.length(1);
  });

  it('move_disk: the disk to another storage of the node (source deleted), and back', async function () {
    const { client, node, storage, moveStorage } = target();
    if (!moveStorage) return this.skip();
    const cfg = await client.getConfig(node, vmid);
    const disk = firstDisk(cfg.values)!;
    await wait(
      await client.moveDisk(node, vmid, { disk, storage: moveStorage, delete: true, digest: cfg.digest }),
    );
    const moved = await client.getConfig(node, vmid);
    expect(moved.values[disk]).to.match(new RegExp(`^${moveStorage}:`));
    expect(Object.keys(moved.values).filter((k) => k.startsWith('unused'))).to.deep.equal([]);
    await wait(await client.moveDisk(node, vmid, { disk, storage, delete: true }));
    expect((await client.getConfig(node, vmid)).values[disk]).to.match(new RegExp(`^${storage}:`));
  });

  it('config: PUT with delete and sshkeys, read back normalised; stale digest refused', async () => {
    const { client, node } = target();
    const before = await client.getConfig(node, vmid);
    const keys = `${sshPublicKey('ops@example.org')}\n${sshPublicKey('second key: with colon')}`;
    await client.updateConfig(node, vmid, {
      set: {
        cores: 2,
        tags: 'Workerctl,contract',
        description: 'contract test',
        sshkeys: keys,
        ipconfig0: 'ip=dhcp',
        onboot: false,
      },
      delete: ['ciuser'],
      digest: before.digest,
    });
    const after = await client.getConfig(node, vmid);
    expect(after.values).to.include({
      cores: '2',
      tags: 'contract;workerctl',
      description: 'contract test',
      ipconfig0: 'ip=dhcp',
      onboot: '0',
    });
    expect(after.values.sshkeys?.trim()).to.equal(keys);
    expect(after.values).to.not.have.property('ciuser');
    expect(after.digest).to.not.equal(before.digest);
    const err = await client
      .updateConfig(node, vmid, { set: { cores: 1 }, digest: before.digest })
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ChecksumMismatchError);
  });

  it('config: async POST returns a task; current=1 reads the running values', async () => {
    const { client, node } = target();
    const task = await client.updateConfigAsync(node, vmid, { set: { memory: 2048 } });
    await wait(task);
    const cur = await client.getConfig(node, vmid, { current: true });
    expect(cur.values.memory).to.equal('2048');
  });

  it('resize: grows the first disk', async () => {
    const { client, node } = target();
    const cfg = await client.getConfig(node, vmid);
    const disk = firstDisk(cfg.values);
    expect(disk, 'the clone has a disk').to.not.equal(undefined);
    await wait(await client.resizeDisk(node, vmid, disk!, '+1G'));
    const after = await client.getConfig(node, vmid);
    expect(after.values[disk!]).to.not.equal(cfg.values[disk!]);
  });

  it('power: start, status, agent, reboot, shutdown, stop', async () => {
    const { client, node, agentTimeoutMs } = target();
    await wait(await client.start(node, vmid));
    const st = await client.status(node, vmid);
    expect(st).to.include({ vmid, status: 'running', agent: true });
    await until('guest agent', agentTimeoutMs, async () => {
      await client.agentPing(node, vmid);
      return true;
    });
    const ifaces = await client.agentNetworkInterfaces(node, vmid);
    expect(ifaces.length).to.be.greaterThan(0);
    expect(ifaces.flatMap((i) => i.ipAddresses).some((a) => a.type === 'ipv4')).to.equal(true);
    const pid = await client.agentExec(node, vmid, ['/bin/sh', '-c', 'echo contract']);
    expect(pid).to.be.a('number');
    const done = await until('exec to finish', agentTimeoutMs, async () => {
      const s = await client.agentExecStatus(node, vmid, pid);
      return s.exited ? s : undefined;
    });
    expect(done.exited).to.equal(true);
    expect(done.exitCode).to.be.a('number');
    await wait(await client.reboot(node, vmid));
    await wait(await client.shutdown(node, vmid, { timeout: 60, forceStop: true }));
    expect((await client.status(node, vmid)).status).to.equal('stopped');
    const stopTask = await client.stop(node, vmid); // stopping a stopped VM is an OK no-op
    const stopped = await wait(stopTask);
    const log = await client.taskLog(stopTask);
    expect(log.total).to.be.at.least(1);
    expect(log.lines[log.lines.length - 1]).to.match(/^TASK (OK|WARNINGS)/);
    expect((await client.taskStatus(stopTask)).exitStatus).to.equal(stopped.exitStatus);
  });

  it('migrate: offline to another node, its local disk onto the storage there', async function () {
    // qemu-server PVE/API2/Qemu.pm migrate_vm, PVE/QemuMigrate.pm (targetstorage).
    const { client, node, storage, migrateNode } = target();
    if (!migrateNode) return this.skip();
    await wait(await client.migrate(node, vmid, { target: migrateNode, targetstorage: storage }));
    const res = await client.vmResources();
    expect(res.find((r) => r.vmid === vmid)?.node).to.equal(migrateNode);
    expect(await client.getConfig(node, vmid).catch((e: unknown) => e)).to.be.instanceOf(NotFoundError);
    at = migrateNode;
  });

  it('delete: purge, then the VM is gone (NotFoundError) and a second delete is NotFoundError', async () => {
    const { client } = target();
    const node = at;
    await wait(await client.deleteVm(node, vmid, { purge: true, destroyUnreferencedDisks: true }));
    expect(await client.getConfig(node, vmid).catch((e: unknown) => e)).to.be.instanceOf(NotFoundError);
    expect(await client.deleteVm(node, vmid).catch((e: unknown) => e)).to.be.instanceOf(NotFoundError);
    expect(await client.status(node, vmid).catch((e: unknown) => e)).to.be.instanceOf(NotFoundError);
  });

  it('create: a VM from scratch with a new disk, then delete', async () => {
    const { client, node, storage } = target();
    created = await client.nextId();
    const task = await client.create(node, created, {
      name: `${name}-new`,
      memory: 1024,
      cores: 1,
      agent: true,
      net0: 'virtio,bridge=vmbr0',
      scsi0: `${storage}:1`,
      scsihw: 'virtio-scsi-single',
    });
    await wait(task);
    const cfg = await client.getConfig(node, created);
    expect(cfg.values.net0).to.match(/^virtio=[0-9A-F:]{17},bridge=vmbr0/);
    expect(await client.create(node, created, { name: 'dup' }).catch((e: unknown) => e)).to.be.instanceOf(
      AlreadyExistsError,
    );
    await wait(await client.deleteVm(node, created, { purge: true }));
  });

  it('agent calls on a stopped VM fail with a typed error', async () => {
    const { client, node, templateVmid } = target();
    const err = await client.agentPing(node, templateVmid).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(AgentUnavailableError);
    expect((err as AgentUnavailableError).reason).to.equal('vm-not-running');
  });
}
