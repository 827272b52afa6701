/** POST /nodes/{node}/qemu (create), POST .../clone, DELETE /nodes/{node}/qemu/{vmid}. */
import {
  canonicalNet,
  DISK_KEY_RE,
  formatSize,
  parseProps,
  validateSshKeys,
  withNewMac,
} from '../config/values.js';
import { ApiError, fail, paramError } from '../http/api-error.js';
import type { ApiRequest } from '../http/router.js';
import { LockTimeoutError, storageLockPath, vmLockPath } from '../locks.js';
import { sleep } from '../latency.js';
import type { Simulator } from '../simulator.js';
import type { TaskContext } from '../tasks.js';
import { configChanges, diskTotals, writeConfig } from '../vm-ops.js';
import type { VmState } from '../world/state.js';
import { flag, num, optStr, str, userOf } from './params.js';

/** Parameters of create that are not config keys. */
const CREATE_ONLY = new Set([
  'node',
  'vmid',
  'storage',
  'pool',
  'start',
  'ha-managed',
  'archive',
  'unique',
  'force',
  'live-restore',
  'bwlimit',
  'import-working-storage',
]);

function checkPool(sim: Simulator, pool: string | undefined): void {
  if (pool !== undefined && !sim.world.pools.has(pool))
    throw new ApiError(403, `Permission check failed (pool '${pool}' does not exist)`);
}

/** "already exists" as create_and_lock_config says it. */
function assertFreeId(sim: Simulator, vmid: number, node: string, style: 'create' | 'clone'): void {
  const other = sim.world.vms.get(vmid);
  if (!other) return;
  if (style === 'clone' && other.node === node)
    throw fail(`unable to create VM ${vmid}: config file already exists`);
  throw fail(`unable to create VM ${vmid} - VM ${vmid} already exists on node '${other.node}'`);
}

function checkCapacity(sim: Simulator): void {
  const max = sim.world.maxVms;
  if (max !== undefined && sim.world.vms.size >= max)
    throw fail(`unable to create VM - cluster capacity of ${max} guests reached`);
}

export function postCreate(sim: Simulator, req: ApiRequest): unknown {
  const node = str(req, 'node');
  const vmid = num(req, 'vmid');
  if (req.params.archive !== undefined) throw fail('restore from archive is not supported by the simulator');
  if (typeof req.params.sshkeys === 'string') validateSshKeys(req.params.sshkeys);
  checkPool(sim, optStr(req, 'pool'));
  if (sim.flocks.busy(vmLockPath(vmid)))
    throw fail(`unable to create VM ${vmid} - ${new LockTimeoutError(vmLockPath(vmid)).message}`);
  assertFreeId(sim, vmid, node, 'create');
  checkCapacity(sim);
  const rest: Record<string, unknown> = {};
  const config: Record<string, string> = { lock: 'create' };
  for (const [k, v] of Object.entries(req.params)) {
    if (CREATE_ONLY.has(k)) continue;
    if (/^net\d+$/.test(k)) config[k] = canonicalNet(String(v), () => sim.world.genMac());
    else rest[k] = v;
  }
  const now = Date.now();
  const vm = sim.world.newVm(vmid, node, config, now);
  vm.guest.os = 'Linux';
  if (flag(req, 'ha-managed')) {
    vm.haManaged = true;
    vm.haState = 'stopped';
  }
  const pool = optStr(req, 'pool');
  if (pool) vm.pool = pool;
  sim.world.addVm(vm);
  sim.world.touch(vm, now);
  const task = sim.spawnTask(
    { node, type: 'qmcreate', id: String(vmid), user: userOf(req), vmid },
    async (ctx) => {
      const release = await sim.vmLock(vmid, 'exclusive', { taskType: 'qmcreate' }, 5);
      try {
        if (Object.keys(rest).length > 0)
          writeConfig(sim.world, sim.rng, vm, configChanges(rest), (l) => ctx.log(l));
        await ctx.sleep(sim.latency.draw('create'));
        for (const [k, v] of Object.entries(vm.config))
          if (DISK_KEY_RE.test(k) && !/media=cdrom/.test(v))
            ctx.log(`  Logical volume "${parseProps(v, 'file').file}" created.`);
        vm.config.smbios1 ??= `uuid=${sim.world.uuid()}`;
        vm.config.vmgenid ??= sim.world.uuid();
        vm.config.meta ??= `creation-qemu=9.2.0,ctime=${Math.floor(Date.now() / 1000)}`;
        if (vm.config.boot === undefined) {
          const order = Object.keys(vm.config)
            .filter((k) => DISK_KEY_RE.test(k) || /^net\d+$/.test(k))
            .sort();
          if (order.length > 0) vm.config.boot = `order=${order.join(';')}`;
        }
        delete vm.config.lock;
      } catch (err) {
        sim.world.removeVm(vmid);
        throw new Error(`unable to create VM ${vmid} - ${(err as Error).message}`);
      } finally {
        release();
      }
      if (flag(req, 'start')) {
        try {
          await ctx.sleep(sim.latency.draw('start'));
          sim.boot(vm);
        } catch (err) {
          ctx.log(`start failed: ${(err as Error).message}`);
        }
      }
    },
  );
  return task.upid;
}

/** Copies one disk of a full clone, sharing the storage bandwidth with other clones. */
async function copyDisk(sim: Simulator, ctx: TaskContext, storage: string, usedGiB: number): Promise<void> {
  const p = sim.latency.profile;
  const bw = (sim.world.storages.get(storage)?.bandwidthGiBps ?? 1) * p.bandwidthFactor;
  sim.activeClones.set(storage, (sim.activeClones.get(storage) ?? 0) + 1);
  try {
    const n = sim.activeClones.get(storage) ?? 1;
    if (
      sim.faults.take(['lockTimeout'], { taskType: 'qmclone', path: 'storage' }) ||
      (sim.latency.name === 'realistic' && n > 2 && sim.rng.chance(Math.min(0.9, 0.2 * (n - 2))))
    ) {
      await sleep(sim.lockWaitMs());
      throw new LockTimeoutError(storageLockPath(storage));
    }
    let done = 0;
    let nextReport = 0.1;
    const chunkSim = Math.max(1, sim.latency.toSim(20));
    while (done < usedGiB) {
      const active = sim.activeClones.get(storage) ?? 1;
      const rate = Math.min(p.cloneGiBps, bw / active);
      const stepSim = Math.min(chunkSim, ((usedGiB - done) / rate) * 1000);
      await ctx.sleep(stepSim);
      done = Math.min(usedGiB, done + (rate * stepSim) / 1000);
      if (done / usedGiB >= nextReport) {
        ctx.log(
          `transferred ${done.toFixed(1)} GiB of ${usedGiB.toFixed(1)} GiB (${((done / usedGiB) * 100).toFixed(2)}%)`,
        );
        nextReport += 0.1;
      }
    }
  } finally {
    sim.activeClones.set(storage, (sim.activeClones.get(storage) ?? 1) - 1);
  }
}

export function postClone(sim: Simulator, req: ApiRequest): unknown {
  const node = str(req, 'node');
  const src = sim.world.vmAt(node, num(req, 'vmid'));
  const newid = num(req, 'newid');
  const pool = optStr(req, 'pool');
  checkPool(sim, pool);
  let target = optStr(req, 'target');
  if (target !== undefined && !sim.world.nodes.has(target)) throw fail(`no such cluster node '${target}'`);
  if (target === node) target = undefined;
  const isTemplate = src.config.template === '1';
  const full = req.params.full === undefined ? !isTemplate : flag(req, 'full');
  const storage = optStr(req, 'storage');
  if (!full) {
    if (storage !== undefined)
      throw paramError({ storage: "parameter 'storage' not allowed for linked clones" });
    if (req.params.format !== undefined)
      throw paramError({ format: "parameter 'format' not allowed for linked clones" });
    if (!isTemplate)
      throw fail(
        `Linked clone feature is not supported for drive 'scsi0' (VM ${src.vmid} is not a template)`,
      );
  }
  if (optStr(req, 'snapname') !== undefined) throw fail(`snapshot '${str(req, 'snapname')}' does not exist`);
  const destNode = target ?? node;
  if (storage !== undefined) {
    const s = sim.world.storages.get(storage);
    if (!s) throw fail(`storage '${storage}' does not exist`);
    if (!s.content.includes('images')) throw fail(`storage '${storage}' does not support vm images`);
    if (!sim.world.storageOnNode(storage, destNode))
      throw fail(`storage '${storage}' is not available on node '${destNode}'`);
  }
  const disks = Object.entries(src.config).filter(([k]) => DISK_KEY_RE.test(k));
  if (target !== undefined) {
    for (const [, v] of disks) {
      const volid = parseProps(v, 'file').file ?? '';
      const st = sim.world.storages.get(volid.split(':')[0]);
      if (st && !st.shared && !(storage && full && /media=cdrom/.test(v)))
        throw fail(`can't clone VM to node '${target}' (VM uses local storage)`);
    }
  }
  if (src.config.lock) throw fail(`VM is locked (${src.config.lock})`);
  assertFreeId(sim, newid, node, 'clone');
  checkCapacity(sim);

  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(src.config)) {
    if (k === 'template' || k === 'lock' || /^unused\d+$/.test(k) || DISK_KEY_RE.test(k) || k === 'parent')
      continue;
    config[k] = /^net\d+$/.test(k) ? withNewMac(v, () => sim.world.genMac()) : v;
  }
  config.name = optStr(req, 'name') ?? `Copy-of-VM-${src.config.name ?? src.vmid}`;
  const description = optStr(req, 'description');
  if (description !== undefined) config.description = description;
  config.smbios1 = `uuid=${sim.world.uuid()}`;
  if (src.config.vmgenid) config.vmgenid = sim.world.uuid();
  config.lock = 'clone';
  const now = Date.now();
  const vm: VmState = sim.world.newVm(newid, destNode, config, now);
  vm.guest.os = src.guest.os;
  if (pool) vm.pool = pool;
  sim.world.addVm(vm);
  sim.world.touch(vm, now);
  const srcId = src.vmid;

  const task = sim.spawnTask(
    { node, type: 'qmclone', id: String(srcId), user: userOf(req), vmid: srcId },
    async (ctx) => {
      const lockWait = sim.lockWaitMs();
      let releaseSrc: (() => void) | undefined;
      let releaseNew: (() => void) | undefined;
      try {
        releaseSrc = await sim.flocks.acquire(
          vmLockPath(srcId),
          src.status === 'running' ? 'exclusive' : 'shared',
          lockWait,
        );
        releaseNew = await sim.flocks.acquire(vmLockPath(newid), 'exclusive', lockWait);
        if (!full) await ctx.sleep(sim.latency.draw('linkedClone'));
        else await ctx.sleep(sim.latency.draw('fullCloneBase'));
        let diskNo = 0;
        for (const [key, value] of disks) {
          const props = parseProps(value, 'file');
          const volid = props.file ?? '';
          const vol = src.volumes[volid];
          const cdrom = /media=cdrom/.test(value);
          const rest = value.slice(volid.length);
          if (!vol) {
            vm.config[key] = value; // e.g. 'none' or an ISO
            continue;
          }
          if (cdrom) {
            const st = storage ?? vol.storage;
            const nv = `${st}:vm-${newid}-cloudinit`;
            vm.volumes[nv] = { ...vol, storage: st };
            vm.config[key] = nv + rest;
            continue;
          }
          if (!full) {
            const base = volid.split(':')[1];
            const nv = `${vol.storage}:${base}/vm-${newid}-disk-${diskNo++}`;
            vm.volumes[nv] = { storage: vol.storage, sizeGiB: vol.sizeGiB, usedGiB: 0 };
            vm.config[key] = nv + rest;
            ctx.log(`create linked clone of drive ${key} (${volid})`);
            continue;
          }
          const st = storage ?? vol.storage;
          ctx.log(`create full clone of drive ${key} (${volid})`);
          await copyDisk(sim, ctx, st, vol.usedGiB);
          const nv = `${st}:vm-${newid}-disk-${diskNo++}`;
          vm.volumes[nv] = { storage: st, sizeGiB: vol.sizeGiB, usedGiB: vol.usedGiB };
          vm.config[key] = nv + rest.replace(/size=[^,]+/, `size=${formatSize(vol.sizeGiB)}`);
        }
        ctx.check();
        delete vm.config.lock;
        sim.world.touch(vm, Date.now());
      } catch (err) {
        if (!ctx.task.aborted) sim.world.removeVm(newid);
        const msg = (err as Error).message;
        throw new Error(msg.startsWith('clone failed') ? msg : `clone failed: ${msg}`);
      } finally {
        releaseNew?.();
        releaseSrc?.();
      }
    },
  );
  return task.upid;
}

export function deleteVm(sim: Simulator, req: ApiRequest): unknown {
  const vm = sim.world.vmAt(str(req, 'node'), num(req, 'vmid'));
  const purge = flag(req, 'purge');
  const early = (): void => {
    if (vm.config.protection === '1') throw fail(`can't remove VM ${vm.vmid} - protection mode enabled`);
    if (vm.haManaged && !purge)
      throw fail(`unable to remove VM ${vm.vmid} - used in HA resources and purge parameter not set.`);
    if (vm.status === 'running') throw fail(`VM ${vm.vmid} is running - destroy failed`);
  };
  early();
  const task = sim.spawnTask(
    { node: vm.node, type: 'qmdestroy', id: String(vm.vmid), user: userOf(req), vmid: vm.vmid },
    async (ctx) => {
      const release = await sim.vmLock(vm.vmid, 'exclusive', { taskType: 'qmdestroy' });
      try {
        if (sim.world.vms.get(vm.vmid) !== vm)
          throw new Error(`Configuration file 'nodes/${vm.node}/qemu-server/${vm.vmid}.conf' does not exist`);
        early();
        if (vm.config.lock && vm.config.lock !== 'suspended' && !flag(req, 'skiplock'))
          throw new Error(`VM is locked (${vm.config.lock})`);
        vm.config.lock = 'destroyed';
        const gib = diskTotals(vm).size;
        await ctx.sleep(sim.latency.draw('delete') + (gib / 50) * sim.latency.profile.deletePer50GiB);
        for (const volid of Object.keys(vm.volumes))
          ctx.log(`Removing image: 100% complete...done. (${volid})`);
        if (purge) ctx.log(`purging VM ${vm.vmid} from related configurations..`);
        sim.world.removeVm(vm.vmid);
      } finally {
        release();
      }
    },
  );
  return task.upid;
}
