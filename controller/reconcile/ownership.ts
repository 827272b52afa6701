/**
 * Who owns a VM (invariant 3). A VM is the worker's only when it carries the owner tag AND the
 * worker's record names its vmid; when its config was read, the description marker must not name
 * another worker or record uid. Any other VM with the worker's name, or at its recorded vmid, is a
 * conflict: reported, never adopted, changed or deleted. Pure.
 */
import type { VmResource } from '../proxmox/types.js';
import type { WorkerRecord } from '../types.js';
import { parseMarker } from './desired-config.js';

/** What sits at the worker's recorded vmid. */
export type Identity =
  | { kind: 'absent' }
  | { kind: 'ours'; vm: VmResource }
  /** A clone of ours is recorded for this vmid and not finished: resume.ts decides. */
  | { kind: 'in-flight'; vm: VmResource }
  /** Cloned by us, its deploy's later steps (move, migration, finish) still to do: deploy.ts. */
  | { kind: 'deploying'; vm: VmResource }
  /** Left from a clone of ours that failed (our marker, no tag yet, never finished): to be removed. */
  | { kind: 'half'; vm: VmResource }
  | { kind: 'foreign'; vm: VmResource; reason: string };

/** A foreign VM that clashes with the worker. */
export interface Clash {
  vmid: number;
  node: string;
  reason: string;
  /** It carries the owner tag (a lost state directory: workerctl recover). */
  tagged: boolean;
}

export interface OwnershipView {
  identity: Identity;
  /** Other VMs that carry the worker's name. */
  clashes: Clash[];
}

/** True when a config's marker names this worker and record. */
export function markerMatches(
  record: WorkerRecord,
  config: Readonly<Record<string, string>> | undefined,
): boolean {
  const marker = parseMarker(config?.description);
  return marker !== undefined && marker.worker === record.name && marker.uid === record.uid;
}

/**
 * PVE's temporary clone config: the file clone_vm writes first, "# qmclone temporary file" (a
 * comment, read back as the description) and `lock: clone` (qemu-server PVE/API2/Qemu.pm clone_vm).
 */
export function isCloneTemporary(config: Readonly<Record<string, string>> | undefined): boolean {
  return (config?.description ?? '').trim() === 'qmclone temporary file';
}

/** Decides what the VM at the recorded vmid is, and which other VMs clash by name. */
export function identify(
  record: WorkerRecord,
  resources: readonly VmResource[],
  config: Readonly<Record<string, string>> | undefined,
  ownerTag: string,
): OwnershipView {
  const tag = ownerTag.toLowerCase();
  const clashes: Clash[] = resources
    .filter((r) => r.name === record.name && r.vmid !== record.vmid)
    .sort((a, b) => a.vmid - b.vmid)
    .map((r) => ({
      vmid: r.vmid,
      node: r.node,
      reason: `vm ${r.vmid} on ${r.node} is named ${record.name} but is not in our records`,
      tagged: r.tags.includes(tag),
    }));
  if (record.vmid === undefined) return { identity: { kind: 'absent' }, clashes };
  const vm = resources.find((r) => r.vmid === record.vmid);
  if (!vm) return { identity: { kind: 'absent' }, clashes };
  if (record.intent?.op === 'clone' && record.intent.vmid === vm.vmid) {
    return { identity: { kind: 'in-flight', vm }, clashes };
  }
  if (record.deploy && record.deploy.steps[0] !== 'clone') {
    return { identity: { kind: 'deploying', vm }, clashes };
  }
  if (record.leftover?.vmid === vm.vmid) {
    // Ours by the clone's intent (its task ended without success), if it still looks like that
    // clone left it: our marker, or PVE's temporary clone config.
    if (config && !markerMatches(record, config) && !isCloneTemporary(config)) {
      return { identity: { kind: 'absent' }, clashes };
    }
    return { identity: { kind: 'half', vm }, clashes };
  }
  const marker = config ? parseMarker(config.description) : undefined;
  if (!vm.tags.includes(tag) && record.deployed === undefined && markerMatches(record, config)) {
    return { identity: { kind: 'half', vm }, clashes };
  }
  if (!vm.tags.includes(tag) && record.deployed === undefined) {
    // Only a reservation (no clone of ours finished there): someone else took the id. The create
    // allocates another one; the VM itself is never touched.
    return { identity: { kind: 'absent' }, clashes };
  }
  if (!vm.tags.includes(tag)) {
    return {
      identity: { kind: 'foreign', vm, reason: `vm ${vm.vmid} at the recorded vmid lacks the '${tag}' tag` },
      clashes,
    };
  }
  if (marker && (marker.worker !== record.name || (record.uid !== undefined && marker.uid !== record.uid))) {
    return {
      identity: {
        kind: 'foreign',
        vm,
        reason: `vm ${vm.vmid} at the recorded vmid is marked as worker ${marker.worker} uid ${marker.uid}`,
      },
      clashes,
    };
  }
  if (vm.template) {
    return {
      identity: { kind: 'foreign', vm, reason: `vm ${vm.vmid} at the recorded vmid is a template` },
      clashes,
    };
  }
  return { identity: { kind: 'ours', vm }, clashes };
}
