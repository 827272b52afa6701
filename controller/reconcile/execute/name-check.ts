/**
 * The name check right before a clone (invariant 3). The pass's listing may be seconds old, and a
 * VM created since is missed by it; cloning then would put a second VM under a foreign VM's name.
 * So the create looks again: a listing taken now (after the worker's record was written), and, as
 * /cluster/resources shows a fresh VM without its name until pvestatd's next broadcast (pve-manager
 * PVE/API2/Cluster.pm resources), the config
 * of every unnamed entry. Only on the create path: a converged fleet never pays for it.
 */
import type { ProxmoxClient } from '../../proxmox/client.js';
import type { VmResource } from '../../proxmox/types.js';
import type { WorkerRecord } from '../../types.js';
import { ConflictError, NotFoundError } from '../../errors.js';

/**
 * Throws ConflictError when a VM other than the record's own carries the worker's name in
 * `resources`, a listing sent after the record was written (fresh-listing.ts: concurrent creates
 * share one). `recorded`: the vmids our records hold (other workers' clones in flight; asked only
 * when an entry has no name): their unnamed entries are not read.
 */
export async function assertNameFree(
  client: ProxmoxClient,
  resources: readonly VmResource[],
  record: WorkerRecord,
  recorded: () => ReadonlySet<number> = () => new Set(),
): Promise<void> {
  let ours: ReadonlySet<number> | undefined;
  for (const r of resources) {
    if (r.vmid === record.vmid) continue;
    let name = r.name;
    if ((name === undefined || name === '') && !r.template && !(ours ??= recorded()).has(r.vmid)) {
      try {
        name = (await client.getConfig(r.node, r.vmid)).values.name;
      } catch (err) {
        if (err instanceof NotFoundError) continue;
        throw err;
      }
    }
    if (name === record.name) {
      throw new ConflictError(
        `vm ${r.vmid} on ${r.node} is named ${record.name} but is not in our records; no clone made`,
      );
    }
  }
}
