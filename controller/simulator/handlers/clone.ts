/**
 * POST /nodes/{node}/qemu/{vmid}/clone (API-NOTES §7): early checks synchronous, the new VM visible at once
 * with lock clone, a qmclone task (id = source vmid) that copies disk by disk; parallel full clones share
 * the storage bandwidth, and beyond two of them a storage flock timeout becomes possible (realistic profile).
 */
import { DISK_KEY_RE, formatSize, parseProps, withNewMac } from '../config/values.js';
import { fail, paramError } from '../http/api-error.js';
import type { ApiRequest } from '../http/router.js';
import { LockTimeoutError, storageLockPath, vmLockPath } from '../locks.js';
import { sleep } from '../latency.js';
import type { Simulator } from '../simulator.js';
import type { TaskContext } from '../tasks.js';
import type { VmState } from '../world/state.js';
import { assertFreeId, checkCapacity, checkPool } from './guards.js';
import { flag, num, optStr, str, userOf } from './params.js';

/**
 * The key clones share bandwidth and the storage lock under: a non-shared storage (local-lvm, ...)
 * is its own disk and `pve-storage-<id>` lock on every node (`node/storage`); a shared one is one
 * pool for the cluster (`storage`).
 */
export function cloneStorageKey(sim: Simulator, storage: string, node: string): string {
  return sim.world.storages.get(storage)?.shared ? storage : `${node}/${storage}`;
}

/** Copies one disk of a full clone onto `storage` of `node`, sharing its bandwidth with other clones. */
async function copyDisk(
  sim: Simulator,
  ctx: TaskContext,
  storage: string,
  node: string,
  usedGiB: number,
): Promise<void> {
  const p = sim.latency.profile;
  const bw = (sim.world.storages.get(storage)?.bandwidthGiBps ?? 1) * p.bandwidthFactor;
  const key = cloneStorageKey(sim, storage, node);
  sim.activeClones.set(key, (sim.activeClones.get(key) ?? 0) + 1);
  try {
    const n = sim.activeClones.get(key) ?? 1;
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
      const active = sim.activeClones.get(key) ?? 1;
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
    sim.activeClones.set(key, (sim.activeClones.get(key) ?? 1) - 1);
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
          await copyDisk(sim, ctx, st, destNode, vol.usedGiB);
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
