/** Small builders of store records for the store tests. */
import type {
  HistoryEntry,
  ReconcileStatus,
  SessionRecord,
  WorkerRecord,
  WorkerSpec,
  WorkerStatus,
} from '../../controller/types.js';

export function makeSpec(name: string, overrides: Partial<WorkerSpec> = {}): WorkerSpec {
  return {
    name,
    labels: { site: 'dc1' },
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
    updates: {
      enabled: true,
      proxy: { host: 'proxy.lan', port: 3128, username: 'u', passwordFile: '/etc/wc/proxy-pass' },
    },
    enabled: true,
    deploy: 'OnDemand',
    applyChanges: 'WhenIdle',
    deletionPolicy: 'Delete',
    ...overrides,
  };
}

export function makeStatus(overrides: Partial<WorkerStatus> = {}): WorkerStatus {
  return {
    phase: 'Configured',
    conditions: [],
    observedGeneration: 0,
    sessions: [],
    history: [],
    ...overrides,
  };
}

/** The reconciler's section of a record. */
export function makeReconcileStatus(overrides: Partial<ReconcileStatus> = {}): ReconcileStatus {
  return { phase: 'Configured', conditions: [], observedGeneration: 0, ...overrides };
}

export function makeRecord(name: string, overrides: Partial<WorkerRecord> = {}): WorkerRecord {
  return {
    name,
    spec: makeSpec(name),
    specHash: `hash-${name}`,
    generation: 1,
    status: makeStatus(),
    ...overrides,
  };
}

export function makeHistory(count: number): HistoryEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    action: `action ${i}`,
    cause: `cause ${i}`,
  }));
}

export function makeSession(id: string, overrides: Partial<SessionRecord> = {}): SessionRecord {
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
    ...overrides,
  };
}

export const TOKEN_TEXT = 'PVEAPIToken=root@pam!ci=0b1c2d3e-1111-2222-3333-444455556666';
