/**
 * POST /nodes/{node}/qemu/{vmid}/clone as qemu-server PVE/API2/Qemu.pm clone_vm runs it: $load_and_check
 * before the fork (and again in the task), then a qmclone task (id = source vmid) that locks the source
 * (shared, exclusive when running) and the new id (lock_config_full, 1 s each), writes a temporary config
 * on the node that runs it ("# qmclone temporary file", lock: clone, no name), copies the disks one by one
 * writing the new config (name, description, disks so far) after each, drops the lock, and only then, with
 * `target`, moves the config to the target node. Parallel full clones share their storage's bandwidth.
 */
import { DISK_KEY_RE, formatSize, parseProps, withNewMac } from '../config/values.js';
import { fail, paramError } from '../http/api-error.js';
import type { ApiRequest } from '../http/router.js';
import { LockTimeoutError, storageLockPath, vmLockPath } from '../locks.js';
import { sleep } from '../latency.js';
import type { Simulator } from '../simulator.js';
import type { TaskContext } from '../tasks.js';
import type { VmState } from '../world/state.js';
import { checkCapacity, checkPool } from './guards.js';
import { flag, num, optStr, str, userOf } from './params.js';

/**
 * The key clones share bandwidth and the storage lock under: a non-shared storage (local-lvm, ...)
 * is its own disk and `pve-storage-<id>` lock on every node (`node/storage`); a shared one is one
 * pool for the cluster (`storage`).
 */
export function cloneStorageKey(sim: Simulator, storage: string, node: string): string {
  return sim.world.storages.get(storage)?.shared ? storage : `${node}/${storage}`;
}

/** qemu-server PVE/QemuServer/Drive.pm drive_is_cloudinit. */
export function isCloudinitVolume(volid: string): boolean {
  return /[:/](?:vm-\d+-)?cloudinit(?:\.(raw|qcow2|vmdk))?$/.test(volid);
}

/** qemu-server PVE/QemuServer/Drive.pm drive_is_cdrom (with $exclude_cloudinit when asked). */
function isCdrom(value: string, excludeCloudinit: boolean): boolean {
  if (!/(^|,)media=cdrom(,|$)/.test(value)) return false;
  return !(excludeCloudinit && isCloudinitVolume(parseProps(value, 'file').file ?? ''));
}

/**
 * pve-storage PVE/Storage.pm storage_check_enabled (storage_config, storage_check_node): the storage
 * exists, is enabled and is available on `node`.
 */
export function storageCheckEnabled(sim: Simulator, storage: string, node: string): void {
  const s = sim.world.storages.get(storage);
  if (!s) throw fail(`storage '${storage}' does not exist`);
  if (s.enabled === false) throw fail(`storage '${storage}' is disabled`);
  if (!sim.world.storageOnNode(storage, node))
    throw fail(`storage '${storage}' is not available on node '${node}'`);
}

/** The parameters of a clone request. */
interface CloneParams {
  node: string;
  vmid: number;
  newid: number;
  pool?: string;
  target?: string;
  storage?: string;
  format?: string;
  snapname?: string;
  full?: boolean;
  name?: string;
  description?: string;
  running: boolean;
}

/** What $load_and_check hands the clone: the source, full or linked, the drives to clone. */
interface CloneCheck {
  src: VmState;
  full: boolean;
  /** Drives to clone (not plain CD-ROMs), sorted by key, with whether each is a full copy. */
  drives: Array<{ key: string; value: string; fullCopy: boolean }>;
}

/**
 * clone_vm's $load_and_check, in its order and with its texts: pool, target node, storage (enabled here,
 * `images` content as a parameter error, with `target`: available there and shared), the source config and
 * its lock, running state, snapshot, full/linked, $check_storage_access_clone (any disk or CD-ROM,
 * cloud-init included, on non-shared storage makes a cross-node clone impossible), the new id's config on
 * this node, then the copy/clone feature of every drive (pve-storage volume_has_feature).
 */
function loadAndCheck(sim: Simulator, p: CloneParams): CloneCheck {
  checkPool(sim, p.pool);
  if (p.target !== undefined && !sim.world.nodes.has(p.target))
    throw fail(`no such cluster node '${p.target}'`);
  if (p.storage !== undefined) {
    storageCheckEnabled(sim, p.storage, p.node);
    const scfg = sim.world.storages.get(p.storage);
    if (!scfg?.content.includes('images'))
      throw paramError({ storage: `storage '${p.storage}' does not support vm images` });
    if (p.target !== undefined) {
      storageCheckEnabled(sim, p.storage, p.target);
      if (!scfg.shared) throw fail(`can't clone to non-shared storage '${p.storage}'`);
    }
  }
  const src = sim.world.vmAt(p.node, p.vmid);
  if (src.config.lock) throw fail(`VM is locked (${src.config.lock})`);
  if ((src.status === 'running') !== p.running) throw fail('unexpected state change');
  if (p.snapname !== undefined) throw fail(`snapshot '${p.snapname}' does not exist`);
  const isTemplate = src.config.template === '1';
  const full = p.full ?? !isTemplate;
  if (p.storage !== undefined && !full) throw fail("parameter 'storage' not allowed for linked clones");
  if (p.format !== undefined && !full) throw fail("parameter 'format' not allowed for linked clones");
  let sharedvm = true;
  const keys = Object.keys(src.config)
    .filter((k) => DISK_KEY_RE.test(k))
    .sort();
  for (const key of keys) {
    const volid = parseProps(src.config[key], 'file').file ?? '';
    if (volid === '' || volid === 'none' || volid === 'cdrom' || !volid.includes(':')) continue;
    if (!sim.world.storages.get(volid.split(':')[0])?.shared) sharedvm = false;
  }
  if (p.target !== undefined && !sharedvm)
    throw fail(`can't clone VM to node '${p.target}' (VM uses local storage)`);
  if (sim.world.vms.get(p.newid)?.node === p.node)
    throw fail(`unable to create VM ${p.newid}: config file already exists`);
  const drives: CloneCheck['drives'] = [];
  for (const key of keys) {
    const value = src.config[key];
    if (isCdrom(value, true)) continue; // simply copied with the config
    const volid = parseProps(value, 'file').file ?? '';
    const fullCopy = full || isCloudinitVolume(volid) || key === 'tpmstate0';
    if (!fullCopy) {
      // volume_has_feature 'clone': only base volumes (of templates) can be linked; not on thick LVM
      const type = sim.world.storages.get(volid.split(':')[0])?.type;
      if (!/:base-/.test(volid) || type === 'lvm')
        throw fail(`Linked clone feature is not supported for '${volid}' (${key})`);
    }
    drives.push({ key, value, fullCopy });
  }
  return { src, full, drives };
}

/** Copies one disk of a full clone onto `storage` of `node`, sharing its bandwidth with other clones. */
export async function copyDisk(
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
    // ASSUMPTION: users report storage-lock timeouts beyond 2-3 parallel clones on one storage; no source
    // gives a rate, so the chance (20% per clone beyond two, realistic profile) is ours. Off without assumptions.
    const contended =
      sim.assumptions &&
      sim.latency.name === 'realistic' &&
      n > 2 &&
      sim.rng.chance(Math.min(0.9, 0.2 * (n - 2)));
    if (sim.faults.take(['lockTimeout'], { taskType: 'qmclone', path: 'storage' }) || contended) {
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

/** qemu-server PVE/QemuServer.pm clone_disk for one drive: the new drive string (volumes added to `vm`). */
async function cloneDisk(
  sim: Simulator,
  ctx: TaskContext,
  p: CloneParams,
  vm: VmState,
  src: VmState,
  drive: CloneCheck['drives'][number],
  diskNo: number,
): Promise<string> {
  const volid = parseProps(drive.value, 'file').file ?? '';
  const rest = drive.value.slice(volid.length);
  const vol = src.volumes[volid];
  ctx.log(`create ${drive.fullCopy ? 'full' : 'linked'} clone of drive ${drive.key} (${volid})`);
  const srcStorage = volid.split(':')[0];
  if (!drive.fullCopy) {
    const nv = `${srcStorage}:${volid.split(':')[1]}/vm-${p.newid}-disk-${diskNo}`;
    vm.volumes[nv] = { storage: srcStorage, sizeGiB: vol?.sizeGiB ?? 0, usedGiB: 0 };
    return nv + rest;
  }
  const st = p.storage ?? srcStorage;
  if (isCloudinitVolume(volid)) {
    // clone_disk: the cloud-init volume is allocated as vm-<newid>-cloudinit; nothing is copied
    const nv = `${st}:vm-${p.newid}-cloudinit`;
    vm.volumes[nv] = { storage: st, sizeGiB: vol?.sizeGiB ?? 0, usedGiB: 0 };
    return nv + rest;
  }
  await copyDisk(sim, ctx, st, p.node, vol?.usedGiB ?? 0);
  const nv = `${st}:vm-${p.newid}-disk-${diskNo}`;
  vm.volumes[nv] = { storage: st, sizeGiB: vol?.sizeGiB ?? 0, usedGiB: vol?.usedGiB ?? 0 };
  return nv + (vol ? rest.replace(/size=[^,]+/, `size=${formatSize(vol.sizeGiB)}`) : rest);
}

/** clone_vm's new config: everything but snapshot state and unused disks, fresh MACs, uuid and vmgenid. */
function newConfig(
  sim: Simulator,
  p: CloneParams,
  src: VmState,
  drives: CloneCheck['drives'],
): Record<string, string> {
  const cloned = new Set(drives.map((d) => d.key));
  const conf: Record<string, string> = { lock: 'clone' };
  for (const [k, v] of Object.entries(src.config)) {
    if (['parent', 'snaptime', 'vmstate', 'snapstate', 'runningcpu', 'runningmachine'].includes(k)) continue;
    if (k === 'running-nets-host-mtu' || /^unused\d+$/.test(k) || cloned.has(k) || k === 'lock') continue;
    conf[k] = /^net\d+$/.test(k) ? withNewMac(v, () => sim.world.genMac()) : v;
  }
  const smbios = Object.entries(parseProps(conf.smbios1 ?? '')).filter(([k]) => k !== 'uuid');
  conf.smbios1 = [`uuid=${sim.world.uuid()}`, ...smbios.map(([k, v]) => `${k}=${v}`)].join(',');
  if (conf.vmgenid) conf.vmgenid = sim.world.uuid();
  delete conf.template;
  conf.name = p.name ? p.name : `Copy-of-VM-${src.config.name ?? src.vmid}`;
  if (p.description) conf.description = p.description;
  return conf;
}

/** The qmclone task body (clone_vm's $clonefn under $lock_source_vm and $lock_target_vm). */
async function runClone(sim: Simulator, ctx: TaskContext, p: CloneParams): Promise<void> {
  // lock_config_shared / lock_config_full with a 1 s timeout; a timeout here is not "clone failed"
  const releaseSrc = await sim.flocks.acquire(
    vmLockPath(p.vmid),
    p.running ? 'exclusive' : 'shared',
    sim.lockWaitMs(1),
  );
  try {
    const releaseNew = await sim.flocks.acquire(vmLockPath(p.newid), 'exclusive', sim.lockWaitMs(1));
    try {
      const { src, full, drives } = loadAndCheck(sim, p);
      ctx.log(`creating a clone of VM ${p.vmid} with ID ${p.newid}`);
      const conf = newConfig(sim, p, src, drives);
      // PVE::Tools::file_set_contents of the temporary config: pmxcfs refuses a vmid known on another node
      const other = sim.world.vms.get(p.newid);
      if (other)
        throw new Error(
          `close (rename) atomic file '/etc/pve/nodes/${p.node}/qemu-server/${p.newid}.conf' failed: File exists`,
        );
      const vm = sim.world.newVm(
        p.newid,
        p.node,
        { description: ' qmclone temporary file', lock: 'clone' },
        Date.now(),
      );
      vm.guest.os = src.guest.os;
      sim.world.addVm(vm);
      sim.world.touch(vm, Date.now());
      try {
        // the fixed part of a clone (volume activation, allocation, config writes): a reported figure
        await ctx.sleep(sim.latency.draw(full ? 'fullCloneBase' : 'linkedClone'));
        let diskNo = 0;
        for (const drive of drives) {
          const isDisk = !isCloudinitVolume(parseProps(drive.value, 'file').file ?? '');
          conf[drive.key] = await cloneDisk(sim, ctx, p, vm, src, drive, isDisk ? diskNo++ : diskNo);
          ctx.check();
          vm.config = { ...conf }; // write_config after each drive
          sim.world.touch(vm, Date.now());
        }
        delete conf.lock;
        const pending = Object.keys(src.pending);
        if (pending.length > 0)
          ctx.log(`found pending changes for '${pending.join(',')}', discarding for clone`);
        vm.config = { ...conf };
        if (p.target !== undefined) vm.node = p.target; // rename to the target node's directory
        if (p.pool) {
          vm.pool = p.pool;
          sim.world.pools.get(p.pool)?.add(p.newid);
        }
        sim.world.touch(vm, Date.now());
      } catch (err) {
        if (ctx.task.aborted) throw err;
        await ctx.sleep(sim.latency.profile.secondMs); // "sleep 1" before freeing the volumes
        sim.world.removeVm(p.newid);
        throw new Error(`clone failed: ${(err as Error).message}`);
      }
    } finally {
      releaseNew();
    }
  } finally {
    releaseSrc();
  }
}

export function postClone(sim: Simulator, req: ApiRequest): unknown {
  const node = str(req, 'node');
  let target = optStr(req, 'target');
  if (target === node || target === 'localhost') target = undefined;
  const vmid = num(req, 'vmid');
  const p: CloneParams = {
    node,
    vmid,
    newid: num(req, 'newid'),
    pool: optStr(req, 'pool'),
    target,
    storage: optStr(req, 'storage'),
    format: optStr(req, 'format'),
    snapname: optStr(req, 'snapname'),
    full: req.params.full === undefined ? undefined : flag(req, 'full'),
    name: optStr(req, 'name'),
    description: optStr(req, 'description'),
    running: sim.world.vms.get(vmid)?.status === 'running',
  };
  loadAndCheck(sim, p); // early checks before forking/locking
  checkCapacity(sim);
  const task = sim.spawnTask(
    { node, type: 'qmclone', id: String(vmid), user: userOf(req), vmid },
    async (ctx) => runClone(sim, ctx, p),
  );
  return task.upid;
}
