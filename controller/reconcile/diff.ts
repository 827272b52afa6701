/**
 * Per-field diff between the desired config and the VM's config (both normalised), each change
 * classed by how disruptive it is:
 * - live: name, description, tags, onboot, ipconfigN, nameserver (PVE applies these at once, also on
 *   a running VM; cloud-init values reach the guest at its next boot, which every session brings),
 *   and netN (bridge, VLAN tag, model): PVE hot-plugs network devices by default (`hotplug` includes
 *   `network`), so a NIC change does not stop the worker;
 * - restart: cores, sockets, memory, agent on a running VM (they stay pending until a restart); on a
 *   stopped VM they are live;
 * - redeploy: template, storage or host changed (a new clone is needed);
 * - live disk grow, destructive (refused) disk shrink.
 */
import type { ChangeClass, FieldChange } from './contracts.js';
import type { DeployedFrom, WorkerSpec } from '../types.js';
import type { DesiredConfig } from './desired-config.js';
import {
  diskSizeGiB,
  diskStorage,
  formatNet,
  normalizeValue,
  observedValue,
  parseNet,
  primaryDiskKey,
} from './normalize.js';

const RESTART_KEYS = new Set(['cores', 'sockets', 'memory', 'agent']);

/** How disruptive changing `key` is on a VM that is (not) running. */
export function classify(key: string, running: boolean): ChangeClass {
  if (RESTART_KEYS.has(key)) return running ? 'restart' : 'live';
  return 'live';
}

/** The config fields that differ, in a stable key order. */
export function diffConfig(
  desired: DesiredConfig,
  observed: Readonly<Record<string, string>>,
  running: boolean,
): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const key of Object.keys(desired)) {
    const want = desired[key];
    const have = observedValue(observed, key);
    if (want === undefined) {
      if (observed[key] !== undefined)
        changes.push({ field: key, from: have, class: classify(key, running) });
      continue;
    }
    const wantNorm = normalizeValue(key, want);
    if (wantNorm !== have)
      changes.push({ field: key, from: have, to: wantNorm, class: classify(key, running) });
  }
  return changes;
}

/**
 * The PUT body that applies `keys` of the desired config: values to set and keys to delete. A NIC
 * keeps its MAC when the model is unchanged, so a bridge or VLAN change does not renumber the guest.
 */
export function buildConfigChange(
  desired: DesiredConfig,
  observed: Readonly<Record<string, string>>,
  keys: readonly string[],
): { set: Record<string, string>; delete: string[] } {
  const set: Record<string, string> = {};
  const del: string[] = [];
  for (const key of keys) {
    const want = desired[key];
    if (want === undefined) {
      if (observed[key] !== undefined) del.push(key);
      continue;
    }
    if (/^net\d+$/.test(key) && observed[key] !== undefined) {
      const have = parseNet(observed[key]);
      const next = parseNet(want);
      if (have.mac && have.model === next.model) next.mac = have.mac;
      set[key] = formatNet(next);
    } else set[key] = want;
  }
  return { set, delete: del };
}

/** The disk size change, if any: grow is live, shrink is destructive (refused). */
export function diffDisk(
  spec: WorkerSpec,
  observed: Readonly<Record<string, string>>,
): { key: string; change: FieldChange } | undefined {
  const key = primaryDiskKey(observed);
  if (!key) return undefined;
  const have = diskSizeGiB(observed[key]!);
  if (have === undefined || Math.abs(have - spec.diskGiB) < 1 / 1024) return undefined;
  const cls: ChangeClass = spec.diskGiB > have ? 'live' : 'destructive';
  return { key, change: { field: key, from: `${round(have)}G`, to: `${spec.diskGiB}G`, class: cls } };
}

function round(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

/**
 * Host, storage and template changes: each needs a new clone. The host is read from the cluster,
 * the storage from the main disk when the config was read, the template from the record.
 */
export function diffPlacement(
  spec: WorkerSpec,
  deployed: DeployedFrom | undefined,
  node: string,
  observed: Readonly<Record<string, string>> | undefined,
): FieldChange[] {
  const changes: FieldChange[] = [];
  if (node !== spec.host) changes.push({ field: 'spec.host', from: node, to: spec.host, class: 'redeploy' });
  const diskKey = observed ? primaryDiskKey(observed) : undefined;
  const storage = (diskKey && observed ? diskStorage(observed[diskKey]!) : undefined) ?? deployed?.storage;
  if (storage !== undefined && storage !== spec.storage) {
    changes.push({ field: 'spec.storage', from: storage, to: spec.storage, class: 'redeploy' });
  }
  if (deployed && String(deployed.template) !== String(spec.template)) {
    changes.push({
      field: 'spec.template',
      from: String(deployed.template),
      to: String(spec.template),
      class: 'redeploy',
    });
  }
  return changes;
}

/** The most disruptive class among `changes`. */
export function worstClass(changes: readonly FieldChange[]): ChangeClass {
  const order: ChangeClass[] = ['none', 'live', 'restart', 'redeploy', 'destructive'];
  let worst = 0;
  for (const c of changes) worst = Math.max(worst, order.indexOf(c.class));
  return order[worst]!;
}
