/** Early (synchronous) checks shared by create and clone. */
import { ApiError, fail } from '../http/api-error.js';
import type { Simulator } from '../simulator.js';

/** 403 for a pool that does not exist (a permission error in PVE). */
export function checkPool(sim: Simulator, pool: string | undefined): void {
  if (pool !== undefined && !sim.world.pools.has(pool))
    throw new ApiError(403, `Permission check failed (pool '${pool}' does not exist)`);
}

/** pve-guest-common AbstractConfig.pm create_and_lock_config -> pve-cluster PVE/Cluster.pm check_vmid_unused. */
export function assertFreeId(sim: Simulator, vmid: number): void {
  const other = sim.world.vms.get(vmid);
  if (!other) return;
  throw fail(`unable to create VM ${vmid} - VM ${vmid} already exists on node '${other.node}'`);
}

/** The world capacity limit (a simulator setting, not a Proxmox behaviour). */
export function checkCapacity(sim: Simulator): void {
  const max = sim.world.maxVms;
  if (max !== undefined && sim.world.vms.size >= max)
    throw fail(`unable to create VM - cluster capacity of ${max} guests reached`);
}
