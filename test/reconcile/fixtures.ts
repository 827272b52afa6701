/** Builders for reconcile tests: specs, records, observed VMs and the config PVE would read back. */
import type { VmResource } from '../../controller/proxmox/types.js';
import type { WorkerRecord, WorkerSpec } from '../../controller/types.js';
import { desiredConfig } from '../../controller/reconcile/desired-config.js';
import { buildConfigChange } from '../../controller/reconcile/diff.js';
import { normalizeTags } from '../../controller/reconcile/normalize.js';

export const OWNER = 'workerctl';

export function spec(name: string, over: Partial<WorkerSpec> = {}): WorkerSpec {
  return {
    name,
    labels: {},
    host: 'pve1',
    template: 'worker-template',
    storage: 'local-lvm',
    description: 'test worker',
    maxConcurrentTasks: 4,
    cpus: 6,
    memoryGiB: 6,
    diskGiB: 100,
    networks: [{ bridge: 'vmbr0', vlan: 20, ipv4: 'dhcp' }],
    dns: 'auto',
    updates: { enabled: true },
    enabled: true,
    deploy: 'Eager',
    applyChanges: 'WhenIdle',
    deletionPolicy: 'Delete',
    ...over,
  };
}

export function record(s: WorkerSpec, over: Partial<WorkerRecord> = {}): WorkerRecord {
  return {
    name: s.name,
    spec: s,
    specHash: `hash-${s.name}`,
    generation: 1,
    uid: `uid-${s.name}`,
    status: { phase: 'Configured', conditions: [], observedGeneration: 0, sessions: [], history: [] },
    ...over,
  };
}

/** A record whose VM is deployed at `vmid` and converged for its generation. */
export function deployed(s: WorkerSpec, vmid: number, over: Partial<WorkerRecord> = {}): WorkerRecord {
  return record(s, {
    vmid,
    node: s.host,
    deployed: { template: s.template, storage: s.storage, host: s.host },
    status: { phase: 'ShutDown', conditions: [], observedGeneration: 1, sessions: [], history: [] },
    ...over,
  });
}

/** The config PVE reads back after we configured the VM: MACs filled in, memory as string, tags sorted. */
export function pveConfig(r: WorkerRecord, over: Record<string, string> = {}): Record<string, string> {
  const desired = desiredConfig(r.spec, { ownerTag: OWNER, uid: r.uid! });
  const keys = Object.keys(desired);
  const { set } = buildConfigChange(desired, {}, keys);
  const cfg: Record<string, string> = {};
  for (const [k, v] of Object.entries(set)) {
    if (/^net\d+$/.test(k)) {
      // PVE's canonical form: model=MAC first, then the other keys in alphabetical order.
      const [, ...rest] = v.split(',');
      cfg[k] = [`virtio=BC:24:11:00:00:0${k.slice(3)}`, ...rest.sort()].join(',');
    } else if (k === 'tags') cfg[k] = normalizeTags(v);
    else cfg[k] = v;
  }
  cfg.scsi0 = `${r.spec.storage}:vm-${r.vmid}-disk-0,size=${r.spec.diskGiB}G`;
  cfg.ide2 = `${r.spec.storage}:vm-${r.vmid}-cloudinit,media=cdrom`;
  cfg.smbios1 = 'uuid=6f1c';
  cfg.vmgenid = 'c0ffee';
  return { ...cfg, ...over };
}

export function vm(vmid: number, over: Partial<VmResource> = {}): VmResource {
  return { vmid, node: 'pve1', type: 'qemu', status: 'stopped', template: false, tags: [OWNER], ...over };
}
