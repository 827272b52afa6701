/**
 * POST /nodes/{node}/qemu/{vmid}/migrate within the cluster, as qemu-server PVE/API2/Qemu.pm migrate_vm
 * checks it before the fork and PVE/QemuMigrate.pm (driven by pve-guest-common PVE/AbstractMigrate.pm
 * migrate) runs it in the qmigrate task: prepare, phase1 (lock `migrate`, scan_local_volumes, copy local
 * volumes offline to `targetstorage`), the live part for a running VM with `online`, then phase3_cleanup
 * moves the config to the target node and unlocks it. Any failure ends "migration aborted" after
 * phase1_cleanup. Replication, local devices and HA placement rules are not modelled.
 */
import { parseProps } from '../config/values.js';
import { fail, paramError } from '../http/api-error.js';
import type { ApiRequest } from '../http/router.js';
import type { Simulator } from '../simulator.js';
import type { TaskContext } from '../tasks.js';
import type { VmState } from '../world/state.js';
import { copyDisk, isCloudinitVolume, storageCheckEnabled } from './clone.js';
import { flag, num, optStr, rootOnly, str, userOf } from './params.js';

/** pve-common PVE/JSONSchema.pm parse_idmap for `targetstorage`: `1` (identity), `sid`, or `src:dst,...`. */
interface StorageMap {
  identity: boolean;
  default?: string;
  entries: Record<string, string>;
}

function parseIdmap(text: string): StorageMap {
  const map: StorageMap = { identity: false, entries: {} };
  for (const item of text.split(/[;,\s]+/).filter(Boolean)) {
    if (item === '1') {
      map.identity = true;
      continue;
    }
    const [a, b] = item.split(':');
    if (b === undefined) {
      if (map.default !== undefined)
        throw paramError({
          targetstorage: 'failed to parse storage map: default target specified more than once',
        });
      map.default = a;
    } else {
      if (map.entries[a] !== undefined)
        throw paramError({
          targetstorage: `failed to parse storage map: duplicate mapping for source '${a}'`,
        });
      map.entries[a] = b;
    }
  }
  return map;
}

/** pve-common PVE/JSONSchema.pm map_id. */
function mapId(map: StorageMap | undefined, sid: string): string {
  if (!map || map.identity) return sid;
  return map.entries[sid] ?? map.default ?? sid;
}

/** The VM's volumes with what QemuServer.pm foreach_volid says of them. */
function volumesOf(vm: VmState): Array<{ key: string; volid: string; cdrom: boolean; unused: boolean }> {
  const out: Array<{ key: string; volid: string; cdrom: boolean; unused: boolean }> = [];
  for (const [key, value] of Object.entries(vm.config)) {
    if (!/^(scsi|virtio|sata|ide|unused)\d+$|^efidisk0$|^tpmstate0$/.test(key)) continue;
    const volid = parseProps(value, 'file').file ?? '';
    if (!volid.includes(':')) continue;
    out.push({ key, volid, cdrom: /(^|,)media=cdrom(,|$)/.test(value), unused: key.startsWith('unused') });
  }
  return out.sort((a, b) => a.volid.localeCompare(b.volid));
}

/** The content type of a volume (PVE::Storage::parse_volname): iso for ISO images, else images. */
function contentType(volid: string): string {
  return /:iso\//.test(volid) ? 'iso' : 'images';
}

/** QemuServer.pm check_storage_availability: every volume's storage enabled here and on the target. */
function checkStorageAvailability(sim: Simulator, vm: VmState, target: string): void {
  for (const { volid } of volumesOf(vm)) {
    const sid = volid.split(':')[0];
    storageCheckEnabled(sim, sid, vm.node);
    storageCheckEnabled(sim, sid, target);
    const type = contentType(volid);
    if (!sim.world.storages.get(sid)?.content.includes(type))
      throw fail(`${volid}: content type '${type}' is not available on storage '${sid}'`);
  }
}

/** migrate_vm's $check_storage_access_migrate. */
function checkStorageAccessMigrate(sim: Simulator, storage: string, target: string): void {
  storageCheckEnabled(sim, storage, target);
  if (!sim.world.storages.get(storage)?.content.includes('images'))
    throw fail(`storage '${storage}' does not support vm images`);
}

interface MigrateParams {
  node: string;
  vmid: number;
  target: string;
  online: boolean;
  withLocalDisks: boolean;
  storagemap?: StorageMap;
}

/** QemuMigrate.pm prepare + scan_local_volumes: the local volumes to copy, and where to. */
function prepare(
  sim: Simulator,
  ctx: TaskContext,
  p: MigrateParams,
): { vm: VmState; local: Array<{ volid: string; targetsid: string; attached: boolean }> } {
  const vm = sim.world.vmAt(p.node, p.vmid);
  if (vm.config.lock) throw new Error(`VM is locked (${vm.config.lock})`);
  const running = vm.status === 'running';
  if (running && !p.online) throw new Error("can't migrate running VM without --online");
  const local: Array<{ volid: string; targetsid: string; attached: boolean }> = [];
  const errors: string[] = [];
  for (const v of volumesOf(vm)) {
    const sid = v.volid.split(':')[0];
    const scfg = sim.world.storages.get(sid);
    storageCheckEnabled(sim, sid, p.node);
    const targetsid = scfg?.shared ? sid : mapId(p.storagemap, sid);
    storageCheckEnabled(sim, targetsid, p.target); // target_storage_check_available
    const type = contentType(v.volid);
    if (!sim.world.storages.get(targetsid)?.content.includes(type))
      throw new Error(`${v.volid}: content type '${type}' is not available on storage '${targetsid}'`);
    if (scfg?.shared) continue;
    if (v.cdrom && !isCloudinitVolume(v.volid)) {
      errors.push(`can't migrate local disk '${v.volid}': local cdrom image`);
      continue;
    }
    if (/:base-/.test(v.volid) && !v.volid.includes('/')) {
      const used = [...sim.world.vms.values()].some((o) =>
        Object.keys(o.volumes).some((k) => k.startsWith(`${v.volid}/`)),
      );
      if (used) {
        errors.push(`can't migrate local disk '${v.volid}': referenced by linked clone(s)`);
        continue;
      }
    }
    const attached = !v.unused && !v.cdrom;
    if (attached && running && !p.withLocalDisks)
      errors.push(
        `can't migrate local disk '${v.volid}': can't live migrate attached local disks without with-local-disks option`,
      );
    if (v.cdrom) ctx.log(`found generated disk '${v.volid}' (in current VM config)`);
    else ctx.log(`found local disk '${v.volid}' (${v.unused ? 'unused' : 'attached'})`);
    local.push({ volid: v.volid, targetsid, attached });
  }
  for (const e of errors) ctx.log(`WARN: ${e}`);
  if (errors.length > 0)
    throw new Error("Problem found while scanning volumes - can't migrate VM - check log");
  for (const l of local) {
    const base = /:(base-[^/]+)\//.exec(l.volid)?.[1];
    if (base)
      throw new Error(
        `Problem found while scanning volumes - can't migrate '${l.volid}' as it's a clone of '${base}'`,
      );
  }
  return { vm, local };
}

/** Elapsed simulated time as AbstractMigrate.pm prints it (HH:MM:SS). */
function duration(sim: Simulator, startedAt: number): string {
  const s = Math.floor(sim.latency.toSim(Date.now() - startedAt) / 1000);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
}

async function runMigration(sim: Simulator, ctx: TaskContext, p: MigrateParams): Promise<void> {
  const startedAt = Date.now();
  let vm: VmState | undefined;
  const copied: string[] = [];
  try {
    const release = await sim.vmLock(p.vmid, 'exclusive', { taskType: 'qmigrate' });
    try {
      const prep = prepare(sim, ctx, p);
      vm = prep.vm;
      const ip = sim.world.nodes.get(p.target)?.ip ?? '';
      ctx.log(`starting migration of VM ${p.vmid} to node '${p.target}' (${ip})`);
      vm.config.lock = 'migrate';
      sim.world.touch(vm, Date.now());
      if (prep.local.length > 0) ctx.log('copying local disk images');
      const volumeMap: Record<string, string> = {};
      for (const l of prep.local) {
        const vol = vm.volumes[l.volid];
        const newVolid = `${l.targetsid}:${l.volid.split(':')[1]}`;
        if (!isCloudinitVolume(l.volid)) await copyDisk(sim, ctx, l.targetsid, p.target, vol?.usedGiB ?? 0);
        ctx.check();
        copied.push(newVolid);
        volumeMap[l.volid] = newVolid;
        ctx.log(`volume '${l.volid}' is '${newVolid}' on the target`);
      }
      // phase3_cleanup: update_volume_ids, move_config_to_node, then `qm unlock` on the target
      for (const [key, value] of Object.entries(vm.config)) {
        const volid = parseProps(value, 'file').file ?? '';
        const nv = volumeMap[volid];
        if (nv) vm.config[key] = nv + value.slice(volid.length);
      }
      for (const [oldId, newId] of Object.entries(volumeMap)) {
        const vol = vm.volumes[oldId];
        delete vm.volumes[oldId];
        if (vol) vm.volumes[newId] = { ...vol, storage: newId.split(':')[0] };
      }
      vm.node = p.target;
      delete vm.config.lock;
      sim.world.touch(vm, Date.now());
    } finally {
      release();
    }
  } catch (err) {
    if (ctx.task.aborted) throw err;
    // phase1_cleanup: drop the migrate lock (the copied target volumes are freed)
    if (vm && vm.config.lock === 'migrate' && vm.node === p.node) delete vm.config.lock;
    ctx.log(`ERROR: migration aborted (duration ${duration(sim, startedAt)}): ${(err as Error).message}`);
    throw new Error('migration aborted');
  }
  ctx.log(`migration finished successfully (duration ${duration(sim, startedAt)})`);
}

export function postMigrate(sim: Simulator, req: ApiRequest): unknown {
  const node = str(req, 'node');
  const target = str(req, 'target');
  if (target === node) throw paramError({ target: 'target is local node.' });
  if (!sim.world.nodes.has(target)) throw fail(`no such cluster node '${target}'`);
  rootOnly(req, 'force', 'migration_type', 'migration_network');
  const vmid = num(req, 'vmid');
  const vm = sim.world.vmAt(node, vmid);
  if (vm.config.lock) throw fail(`VM is locked (${vm.config.lock})`);
  let online = flag(req, 'online');
  if (vm.status === 'running') {
    if (!online) throw fail("can't migrate running VM without --online");
  } else online = false; // "VM isn't running. Doing offline migration instead."
  const ts = optStr(req, 'targetstorage');
  let storagemap: StorageMap | undefined;
  if (ts !== undefined) {
    storagemap = parseIdmap(ts);
    for (const sid of Object.values(storagemap.entries)) checkStorageAccessMigrate(sim, sid, target);
    if (storagemap.default) checkStorageAccessMigrate(sim, storagemap.default, target);
    if (storagemap.identity) checkStorageAvailability(sim, vm, target);
  } else checkStorageAvailability(sim, vm, target);
  const p: MigrateParams = {
    node,
    vmid,
    target,
    online,
    withLocalDisks: flag(req, 'with-local-disks'),
    storagemap,
  };
  if (vm.haManaged) {
    const task = sim.spawnTask(
      { node, type: 'hamigrate', id: String(vmid), user: userOf(req), vmid },
      async (ctx) => {
        ctx.log(`Requesting HA migration for VM ${vmid} to node ${target}`);
      },
    );
    return task.upid;
  }
  const task = sim.spawnTask(
    { node, type: 'qmigrate', id: String(vmid), user: userOf(req), vmid },
    async (ctx) => runMigration(sim, ctx, p),
  );
  return task.upid;
}
