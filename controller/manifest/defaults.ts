/**
 * Every default of the Worker manifest, in one place. The values are the JSON Schema's `default`
 * keywords (schemas/worker.schema.json, the user reference): read from it, never written twice.
 * Only the sizing rule for cpus and memoryGiB, which depends on maxConcurrentTasks, is code (the
 * schema's descriptions state it). The input is a document that passed the schema; the output is a
 * complete WorkerSpec.
 */
import type { DnsSpec, NetworkSpec, UpdatesSpec, WorkerSpec } from '../types.js';
import { workerSchema, type SchemaNode } from './schema.js';

/** The `default` the schema declares for the property at `path` (names of nested properties). */
export function schemaDefault<T>(...path: string[]): T {
  let node: SchemaNode | undefined = workerSchema();
  for (const name of path) node = node?.properties?.[name];
  if (!node || !('default' in node)) {
    throw new Error(`schemas/worker.schema.json declares no default for ${path.join('.')}`);
  }
  return structuredClone(node.default) as T;
}

/** Default values (the Veeam guide's where it has them), as the schema declares them. */
export const DEFAULTS = {
  labels: schemaDefault<Record<string, string>>('metadata', 'labels'),
  maxConcurrentTasks: schemaDefault<number>('spec', 'maxConcurrentTasks'),
  diskGiB: schemaDefault<number>('spec', 'diskGiB'),
  dns: schemaDefault<DnsSpec>('spec', 'dns'),
  updatesEnabled: schemaDefault<boolean>('spec', 'updates', 'enabled'),
  proxyPort: schemaDefault<number>('spec', 'updates', 'proxy', 'port'),
  enabled: schemaDefault<boolean>('spec', 'enabled'),
  deploy: schemaDefault<WorkerSpec['deploy']>('spec', 'deploy'),
  applyChanges: schemaDefault<WorkerSpec['applyChanges']>('spec', 'applyChanges'),
  deletionPolicy: schemaDefault<WorkerSpec['deletionPolicy']>('spec', 'deletionPolicy'),
  description: schemaDefault<string>('spec', 'description'),
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
    labels: { ...(doc.metadata.labels ?? DEFAULTS.labels) },
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
