/**
 * Every default of the Worker manifest, in one place. The input is a document that passed the
 * schema; the output is a complete WorkerSpec.
 */
import type { DnsSpec, NetworkSpec, UpdatesSpec, WorkerSpec } from '../types.js';

/** Default values (the Veeam guide's where it has them). */
export const DEFAULTS = {
  maxConcurrentTasks: 4,
  diskGiB: 100,
  dns: 'auto' as DnsSpec,
  updatesEnabled: true,
  proxyPort: 80,
  enabled: true,
  deploy: 'OnDemand',
  applyChanges: 'WhenIdle',
  deletionPolicy: 'Delete',
  description: '',
} as const;

/** vCPUs and GiB of memory for a task count: 6 at 4 tasks, one more per extra task, never below 2. */
export function defaultSizeFor(maxConcurrentTasks: number): number {
  return Math.max(2, 6 + (maxConcurrentTasks - 4));
}

/** The shape of a schema-valid Worker document (optional fields still optional). */
export interface WorkerDocument {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    host: string;
    template: string | number;
    storage: string;
    description?: string;
    maxConcurrentTasks?: number;
    cpus?: number;
    memoryGiB?: number;
    diskGiB?: number;
    networks: NetworkSpec[];
    dns?: DnsSpec;
    updates?: Partial<UpdatesSpec> & {
      proxy?: { host: string; port?: number; username?: string; passwordFile?: string };
    };
    enabled?: boolean;
    deploy?: WorkerSpec['deploy'];
    applyChanges?: WorkerSpec['applyChanges'];
    deletionPolicy?: WorkerSpec['deletionPolicy'];
  };
}

/** Applies every default to a schema-valid document. Pure: the input is not changed. */
export function applyDefaults(doc: WorkerDocument): WorkerSpec {
  const s = doc.spec;
  const tasks = s.maxConcurrentTasks ?? DEFAULTS.maxConcurrentTasks;
  const updates: UpdatesSpec = { enabled: s.updates?.enabled ?? DEFAULTS.updatesEnabled };
  const proxy = s.updates?.proxy;
  if (proxy) {
    updates.proxy = { host: proxy.host, port: proxy.port ?? DEFAULTS.proxyPort };
    if (proxy.username !== undefined) updates.proxy.username = proxy.username;
    if (proxy.passwordFile !== undefined) updates.proxy.passwordFile = proxy.passwordFile;
  }
  return {
    name: doc.metadata.name,
    labels: { ...(doc.metadata.labels ?? {}) },
    host: s.host,
    template: s.template,
    storage: s.storage,
    description: s.description ?? DEFAULTS.description,
    maxConcurrentTasks: tasks,
    cpus: s.cpus ?? defaultSizeFor(tasks),
    memoryGiB: s.memoryGiB ?? defaultSizeFor(tasks),
    diskGiB: s.diskGiB ?? DEFAULTS.diskGiB,
    networks: s.networks.map(copyNetwork),
    dns: copyDns(s.dns ?? DEFAULTS.dns),
    updates,
    enabled: s.enabled ?? DEFAULTS.enabled,
    deploy: s.deploy ?? DEFAULTS.deploy,
    applyChanges: s.applyChanges ?? DEFAULTS.applyChanges,
    deletionPolicy: s.deletionPolicy ?? DEFAULTS.deletionPolicy,
  };
}

function copyNetwork(n: NetworkSpec): NetworkSpec {
  const out: NetworkSpec = {
    bridge: n.bridge,
    ipv4: n.ipv4 === 'dhcp' ? 'dhcp' : { address: n.ipv4.address },
  };
  if (n.vlan !== undefined) out.vlan = n.vlan;
  if (n.ipv4 !== 'dhcp' && n.ipv4.gateway !== undefined && typeof out.ipv4 === 'object') {
    out.ipv4.gateway = n.ipv4.gateway;
  }
  return out;
}

function copyDns(d: DnsSpec): DnsSpec {
  return d === 'auto' ? 'auto' : { servers: [...d.servers] };
}
