/**
 * WorkerSpec -> the PVE config keys the VM should have. Pure. The description carries a marker line
 * (`workerctl: worker=<name> uid=<uid>`) that is the third leg of the identity check (ownership.ts).
 */
import type { WorkerSpec } from '../types.js';
import { workerTags } from './label-tags.js';

/** The config a worker's VM should have: a value per key, `undefined` = the key must be absent. */
export type DesiredConfig = Record<string, string | undefined>;

/** Prefix of the marker line in a VM's description. */
export const MARKER_PREFIX = 'workerctl:';
const MARKER_RE = /^workerctl: worker=(\S+) uid=(\S+)\s*$/;

/** The marker line that names a VM as the worker `name` with record uid `uid`. */
export function markerLine(name: string, uid: string): string {
  return `${MARKER_PREFIX} worker=${name} uid=${uid}`;
}

/** The marker found in a description, if any. */
export function parseMarker(description: string | undefined): { worker: string; uid: string } | undefined {
  for (const line of (description ?? '').split(/\r?\n/)) {
    const m = MARKER_RE.exec(line.trim());
    if (m) return { worker: m[1]!, uid: m[2]! };
  }
  return undefined;
}

/** The description without our marker line (for Orphan). */
export function stripMarker(description: string): string {
  return description
    .split(/\r?\n/)
    .filter((line) => !MARKER_RE.test(line.trim()))
    .join('\n')
    .trimEnd();
}

/** The spec's description plus the marker line. */
export function desiredDescription(spec: WorkerSpec, uid: string): string {
  const text = spec.description.trimEnd();
  return text ? `${text}\n${markerLine(spec.name, uid)}` : markerLine(spec.name, uid);
}

/** Tags: the owner tag and the labels (PVE form: lower-case, sorted, ';'; label-tags.ts). */
export function desiredTags(ownerTag: string, labels: Readonly<Record<string, string>> = {}): string {
  return workerTags(ownerTag, labels);
}

/** netN value as we write it (PVE adds the MAC; formatNet keeps an existing one). */
export function desiredNet(bridge: string, vlan: number | undefined): string {
  return vlan === undefined ? `virtio,bridge=${bridge}` : `virtio,bridge=${bridge},tag=${vlan}`;
}

/** Highest netN / ipconfigN index PVE allows. */
const MAX_NICS = 32;

/**
 * The desired value of every key workerctl manages. Keys beyond the spec's networks (netN,
 * ipconfigN) are listed as undefined so a NIC left over from the template is removed.
 */
export function desiredConfig(spec: WorkerSpec, opts: { ownerTag: string; uid: string }): DesiredConfig {
  const cfg: DesiredConfig = {
    name: spec.name,
    cores: String(spec.cpus),
    sockets: '1',
    memory: String(Math.round(spec.memoryGiB * 1024)),
    description: desiredDescription(spec, opts.uid),
    tags: desiredTags(opts.ownerTag, spec.labels),
    onboot: '0',
    agent: '1',
    nameserver: spec.dns === 'auto' ? undefined : spec.dns.servers.join(' '),
  };
  for (let i = 0; i < MAX_NICS; i++) {
    const net = spec.networks[i];
    if (!net) {
      cfg[`net${i}`] = undefined;
      cfg[`ipconfig${i}`] = undefined;
      continue;
    }
    cfg[`net${i}`] = desiredNet(net.bridge, net.vlan);
    cfg[`ipconfig${i}`] =
      net.ipv4 === 'dhcp'
        ? 'ip=dhcp'
        : net.ipv4.gateway
          ? `ip=${net.ipv4.address},gw=${net.ipv4.gateway}`
          : `ip=${net.ipv4.address}`;
  }
  return cfg;
}

/** People-facing name of a PVE key, for plans and history. */
export function fieldLabel(key: string): string {
  const m = /^(net|ipconfig)(\d+)$/.exec(key);
  if (m) return m[1] === 'net' ? `networks[${m[2]}]` : `networks[${m[2]}].ipv4`;
  const labels: Record<string, string> = {
    cores: 'cpus',
    memory: 'memory (MiB)',
    nameserver: 'dns',
    disk: 'diskGiB',
  };
  return labels[key] ?? key;
}
