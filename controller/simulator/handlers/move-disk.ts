/**
 * POST /nodes/{node}/qemu/{vmid}/move_disk as qemu-server PVE/API2/Qemu.pm move_vm_disk does it for a
 * target storage: $load_and_check_move before the fork and again under lock_config in the qmmove task
 * (id = vmid), which copies the disk (clone_disk), keeps the source as unusedN unless `delete`, and fails
 * "storage migration failed: ..." after freeing what it allocated. Moving a disk to another VM
 * (`target-vmid`) is not modelled.
 */
import { formatSize, parseProps } from '../config/values.js';
import { ApiError, fail, paramError } from '../http/api-error.js';
import type { ApiRequest } from '../http/router.js';
import type { Simulator } from '../simulator.js';
import { digestOf } from '../vm-ops.js';
import type { VmState } from '../world/state.js';
import { copyDisk, isCloudinitVolume, storageCheckEnabled } from './clone.js';
import { flag, num, optStr, str, userOf } from './params.js';

/** move_vm_disk's $load_and_check_move. */
function loadAndCheckMove(
  sim: Simulator,
  node: string,
  vmid: number,
  disk: string,
  storage: string,
  digest: string | undefined,
  format: string | undefined,
  del: boolean,
): { vm: VmState; volid: string } {
  const vm = sim.world.vmAt(node, vmid);
  if (vm.config.lock) throw fail(`VM is locked (${vm.config.lock})`);
  // pve-common PVE/Tools.pm assert_if_modified
  if (digest && digest !== digestOf(vm))
    throw fail('detected modified configuration - file changed by other user? Try again.');
  const value = vm.config[disk];
  if (!value) throw fail(`disk '${disk}' does not exist`);
  const volid = parseProps(value, 'file').file;
  if (!volid) throw fail(`disk '${disk}' has no associated volume`);
  // drive_is_cdrom($drive, 1): a cloud-init drive can be moved
  if (/(^|,)media=cdrom(,|$)/.test(value) && !isCloudinitVolume(volid)) throw fail("you can't move a cdrom");
  const oldStorage = volid.split(':')[0];
  if (oldStorage === storage && (!format || format === 'raw'))
    throw fail("you can't move to the same storage with same format");
  storageCheckEnabled(sim, storage, node);
  if (!sim.world.storages.get(storage)?.content.includes('images'))
    throw paramError({ storage: `storage '${storage}' does not support vm images` });
  void del; // snapshots are not modelled, so "you can't move a disk with snapshots and delete the source" never fires
  return { vm, volid };
}

export function postMoveDisk(sim: Simulator, req: ApiRequest): unknown {
  const node = str(req, 'node');
  const vmid = num(req, 'vmid');
  const disk = str(req, 'disk');
  const storage = optStr(req, 'storage');
  const targetVmid = optStr(req, 'target-vmid');
  const digest = optStr(req, 'digest');
  const format = optStr(req, 'format');
  const del = flag(req, 'delete');
  if (targetVmid !== undefined && storage !== undefined) {
    const msg = "either set 'storage' or 'target-vmid', but not both";
    throw paramError({ 'target-vmid': msg, storage: msg });
  }
  if (targetVmid !== undefined)
    throw new ApiError(501, 'moving a disk to another VM is not modelled by the simulator');
  if (storage === undefined) {
    const msg = "both 'storage' and 'target-vmid' missing, either needs to be set";
    throw paramError({ 'target-vmid': msg, storage: msg });
  }
  loadAndCheckMove(sim, node, vmid, disk, storage, digest, format, del); // early checks before forking/locking
  const task = sim.spawnTask(
    { node, type: 'qmmove', id: String(vmid), user: userOf(req), vmid },
    async (ctx) => {
      const release = await sim.vmLock(vmid, 'exclusive', { taskType: 'qmmove' });
      try {
        const { vm, volid } = loadAndCheckMove(sim, node, vmid, disk, storage, digest, format, del);
        const oldStorage = volid.split(':')[0];
        ctx.log(
          `copying volume '${volid}' from current storage '${oldStorage}' to target storage '${storage}'`,
        );
        const vol = vm.volumes[volid];
        const value = vm.config[disk];
        let newVolid = '';
        try {
          ctx.log(`create full clone of drive ${disk} (${volid})`);
          if (isCloudinitVolume(volid)) newVolid = `${storage}:vm-${vmid}-cloudinit`;
          else {
            await copyDisk(sim, ctx, storage, node, vol?.usedGiB ?? 0);
            let i = 0;
            while (vm.volumes[`${storage}:vm-${vmid}-disk-${i}`]) i++;
            newVolid = `${storage}:vm-${vmid}-disk-${i}`;
          }
          ctx.check();
          vm.volumes[newVolid] = { storage, sizeGiB: vol?.sizeGiB ?? 0, usedGiB: vol?.usedGiB ?? 0 };
          const rest = value.slice(volid.length);
          vm.config[disk] =
            newVolid + (vol ? rest.replace(/size=[^,]+/, `size=${formatSize(vol.sizeGiB)}`) : rest);
          if (!del) {
            let n = 0;
            while (vm.config[`unused${n}`] !== undefined) n++;
            vm.config[`unused${n}`] = volid;
            ctx.log(`adding source volume '${volid}' as 'unused${n}' to config`);
          }
          sim.world.touch(vm, Date.now());
        } catch (err) {
          if (ctx.task.aborted) throw err;
          if (newVolid) delete vm.volumes[newVolid];
          throw new Error(`storage migration failed: ${(err as Error).message}`);
        }
        if (del) {
          ctx.log(`removing source volume '${volid}' after successful copy`);
          delete vm.volumes[volid];
        }
      } finally {
        release();
      }
    },
  );
  return task.upid;
}
