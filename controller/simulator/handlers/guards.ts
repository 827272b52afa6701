/** Early (synchronous) checks shared by create and clone. */
import { ApiError, fail } from '../http/api-error.js';
import type { Simulator } from '../simulator.js';

/** 403 for a pool that does not exist (a permission error in PVE). */
export function checkPool(sim: Simulator, pool: string | undefined): void {
  if (pool !== undefined && !sim.world.pools.has(pool))
    throw new ApiError(403, `Permission check failed (pool '${pool}' does not exist)`);
}

/** "already exists" as create_and_lock_config says it. */
export function assertFreeId(sim: Simulator, vmid: number, node: string, style: 'create' | 'clone'): void {
  const other = sim.world.vms.get(vmid);
  if (!other) return;
  if (style === 'clone' && other.node === node)
    throw fail(`unable to create VM ${vmid}: config file already exists`);
  throw fail(`unable to create VM ${vmid} - VM ${vmid} already exists on node '${other.node}'`);
}

/** The world capacity limit. */
export function checkCapacity(sim: Simulator): void {
  const max = sim.world.maxVms;
  if (max !== undefined && sim.world.vms.size >= max)
    throw fail(`unable to create VM - cluster capacity of ${max} guests reached`);
}
