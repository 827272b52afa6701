/** POST /nodes/{node}/qemu (create) and DELETE /nodes/{node}/qemu/{vmid}. */
import { canonicalNet, DISK_KEY_RE, parseProps, validateSshKeys } from '../config/values.js';
import { fail } from '../http/api-error.js';
import type { ApiRequest } from '../http/router.js';
import { LockTimeoutError, vmLockPath } from '../locks.js';
import type { Simulator } from '../simulator.js';
import { configChanges, diskTotals, writeConfig } from '../vm-ops.js';
import { assertFreeId, checkCapacity, checkPool } from './guards.js';
import { flag, num, optStr, rootOnly, str, userOf } from './params.js';

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

export function postCreate(sim: Simulator, req: ApiRequest): unknown {
  const node = str(req, 'node');
  const vmid = num(req, 'vmid');
  if (req.params.archive !== undefined) throw fail('restore from archive is not supported by the simulator');
  if (typeof req.params.sshkeys === 'string') validateSshKeys(req.params.sshkeys);
  checkPool(sim, optStr(req, 'pool'));
  if (sim.flocks.busy(vmLockPath(vmid)))
    throw fail(`unable to create VM ${vmid} - ${new LockTimeoutError(vmLockPath(vmid)).message}`);
  assertFreeId(sim, vmid);
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

/** qemu-server PVE/API2/Qemu.pm destroy_vm: root-only skiplock, the early checks, again under lock_config in qmdestroy. */
export function deleteVm(sim: Simulator, req: ApiRequest): unknown {
  rootOnly(req, 'skiplock');
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
