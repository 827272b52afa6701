/**
 * Builders of specs, records, statuses, sessions and manifest loads for every test: one base spec
 * (workerSpec: what the minimal manifest yields with every default) and one record (workerRecord),
 * with the presets the test folders use; plus what PVE reads back for a configured VM.
 */
import { createHash } from 'node:crypto';
import type { VmResource } from '../../controller/proxmox/types.js';
import { desiredConfig } from '../../controller/reconcile/desired-config.js';
import { buildConfigChange } from '../../controller/reconcile/diff.js';
import { normalizeTags } from '../../controller/reconcile/normalize.js';
import type {
  HistoryEntry,
  LoadResult,
  ReconcileStatus,
  SessionRecord,
  WorkerRecord,
  WorkerSpec,
  WorkerStatus,
} from '../../controller/types.js';

/** The owner tag of the default settings. */
export const OWNER = 'workerctl';

/** A complete spec: the minimal manifest's worker with every default, and `over`. */
export function workerSpec(name: string, over: Partial<WorkerSpec> = {}): WorkerSpec {
  return {
    name,
    labels: {},
    host: 'pve1',
    template: 'worker-template',
    storage: 'local-lvm',
    description: '',
    maxConcurrentTasks: 4,
    cpus: 6,
    memoryGiB: 6,
    diskGiB: 100,
    networks: [{ bridge: 'vmbr0', ipv4: 'dhcp' }],
    dns: 'auto',
    updates: { enabled: true },
    enabled: true,
    deploy: 'OnDemand',
    applyChanges: 'WhenIdle',
    deletionPolicy: 'Delete',
    ...over,
  };
}

/** The reconcile tests' preset: Eager, a described worker on a tagged VLAN. */
export function eagerSpec(name: string, over: Partial<WorkerSpec> = {}): WorkerSpec {
  return workerSpec(name, {
    description: 'test worker',
    networks: [{ bridge: 'vmbr0', vlan: 20, ipv4: 'dhcp' }],
    deploy: 'Eager',
    ...over,
  });
}

/** The store tests' preset: labels and an authenticating proxy (whose password is a file path). */
export function makeSpec(name: string, over: Partial<WorkerSpec> = {}): WorkerSpec {
  return workerSpec(name, {
    labels: { site: 'dc1' },
    description: 'test worker',
    networks: [{ bridge: 'vmbr0', vlan: 20, ipv4: 'dhcp' }],
    updates: {
      enabled: true,
      proxy: { host: 'proxy.lan', port: 3128, username: 'u', passwordFile: '/etc/wc/proxy-pass' },
    },
    ...over,
  });
}

/** A status as readers see it (phase Configured, nothing observed yet), with `over`. */
export function makeStatus(over: Partial<WorkerStatus> = {}): WorkerStatus {
  return { phase: 'Configured', conditions: [], observedGeneration: 0, sessions: [], history: [], ...over };
}

/** The reconciler's section of a record. */
export function makeReconcileStatus(over: Partial<ReconcileStatus> = {}): ReconcileStatus {
  return { phase: 'Configured', conditions: [], observedGeneration: 0, ...over };
}

/** A record of `spec` as the intake first writes it, with `over`. */
export function workerRecord(spec: WorkerSpec, over: Partial<WorkerRecord> = {}): WorkerRecord {
  return {
    name: spec.name,
    spec,
    specHash: `hash-${spec.name}`,
    generation: 1,
    uid: `uid-${spec.name}`,
    status: makeStatus(),
    ...over,
  };
}

/** The store tests' record (makeSpec). */
export function makeRecord(name: string, over: Partial<WorkerRecord> = {}): WorkerRecord {
  return workerRecord(makeSpec(name), over);
}

/** The lifecycle tests' record: workerSpec(name, specOver), with `over`. */
export function lifecycleRecord(
  name: string,
  specOver: Partial<WorkerSpec> = {},
  over: Partial<WorkerRecord> = {},
): WorkerRecord {
  return workerRecord(workerSpec(name, specOver), over);
}

/** A record whose VM is deployed at `vmid` and converged for its generation. */
export function deployed(s: WorkerSpec, vmid: number, over: Partial<WorkerRecord> = {}): WorkerRecord {
  return workerRecord(s, {
    vmid,
    node: s.host,
    deployed: { template: s.template, storage: s.storage, host: s.host },
    status: makeStatus({ phase: 'ShutDown', observedGeneration: 1 }),
    ...over,
  });
}

export function makeHistory(count: number): HistoryEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    action: `action ${i}`,
    cause: `cause ${i}`,
  }));
}

export function makeSession(id: string, over: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id,
    worker: 'w1',
    host: 'pve1',
    kind: 'backup',
    tasks: 1,
    fallback: false,
    createdAt: '2026-01-01T00:00:00.000Z',
    leaseExpiresAt: '2026-01-01T00:10:00.000Z',
    leaseMs: 600_000,
    ...over,
  };
}

/** A token as it might leak into a text (redaction tests). */
export const TOKEN_TEXT = 'PVEAPIToken=root@pam!ci=0b1c2d3e-1111-2222-3333-444455556666';

/** A LoadResult as the loader would produce for `specs` (one file per worker unless `file` is set). */
export function loadOf(
  specs: WorkerSpec[],
  opts: { invalidFiles?: string[]; file?: (s: WorkerSpec) => string } = {},
): LoadResult {
  const fileOf = opts.file ?? ((s: WorkerSpec) => `workers/${s.name}.yaml`);
  const workers = specs.map((spec) => ({
    spec,
    source: { file: fileOf(spec), line: 1, col: 1 },
    specHash: createHash('sha256').update(JSON.stringify(spec)).digest('hex'),
  }));
  return {
    workers,
    diagnostics: [],
    files: [...new Set(workers.map((w) => w.source.file).concat(opts.invalidFiles ?? []))],
    invalidFiles: opts.invalidFiles ?? [],
  };
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
