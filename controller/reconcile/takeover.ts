/**
 * Taking VMs under management by hand, never automatically (invariant 3): `workerctl adopt NAME
 * --vmid N` marks an existing VM as a declared worker's (owner tag and marker, then the usual
 * converge), and `workerctl recover` rebuilds the records of a lost state directory from the owner
 * tag and the marker on the VMs. Both refuse anything ambiguous. Pure: what may be done and what
 * the plan would be afterwards; the commands read Proxmox and write.
 */
import type { VmResource } from '../proxmox/types.js';
import type { DeployedFrom, LoadedWorker, WorkerRecord, WorkerSpec } from '../types.js';
import type { PlannedAction } from './contracts.js';
import { markerLine, parseMarker } from './desired-config.js';
import { diskStorage, normalizeTags, primaryDiskKey } from './normalize.js';
import { planWorker } from './plan.js';

/** What adopting a VM writes first: the owner tag added to its tags, the marker added to its description. */
export function adoptionMarks(
  config: Readonly<Record<string, string>>,
  worker: string,
  uid: string,
  ownerTag: string,
): { tags: string; description: string } {
  const tags = normalizeTags(`${config.tags ?? ''};${ownerTag}`);
  const text = (config.description ?? '').trimEnd();
  const marker = markerLine(worker, uid);
  return { tags, description: text ? `${text}\n${marker}` : marker };
}

/** Where the VM is and what it was made from, as the record will say (the template is the spec's). */
export function deployedOf(
  spec: WorkerSpec,
  vm: VmResource,
  config: Readonly<Record<string, string>>,
): DeployedFrom {
  const key = primaryDiskKey(config);
  const storage = (key ? diskStorage(config[key]!) : undefined) ?? spec.storage;
  return { template: spec.template, storage, host: vm.node };
}

export interface AdoptionCheck {
  /** Why it is refused (empty: it may go ahead). */
  refusals: string[];
  /** True when the VM already is this worker's (tag, record and marker): nothing to do. */
  done: boolean;
  /** The plan after adoption: what `apply` would then do to the VM. */
  after: PlannedAction[];
}

export interface AdoptionInput {
  worker: LoadedWorker;
  /** The worker's record, if it has one. */
  record?: WorkerRecord;
  /** Every record (who else claims the vmid). */
  records: readonly WorkerRecord[];
  vm: VmResource;
  config: Readonly<Record<string, string>>;
  resources: readonly VmResource[];
  ownerTag: string;
  /** The uid the marker will carry (the record's, or a new one). */
  uid: string;
}

/** May `vm` become `worker`'s, and what would apply do then? */
export function checkAdoption(input: AdoptionInput): AdoptionCheck {
  const { worker, record, vm, config, ownerTag } = input;
  const name = worker.spec.name;
  const refusals: string[] = [];
  const marker = parseMarker(config.description);
  const tagged = vm.tags.includes(ownerTag.toLowerCase());
  if (record?.vmid === vm.vmid && tagged && marker?.worker === name && marker.uid === record.uid) {
    return { refusals, done: true, after: [] };
  }
  if (vm.template) refusals.push(`vm ${vm.vmid} is a template`);
  if (vm.type !== 'qemu') refusals.push(`vm ${vm.vmid} is not a QEMU vm`);
  if (vm.lock) refusals.push(`vm ${vm.vmid} is locked (${vm.lock}); try again when its task has ended`);
  if (record?.intent)
    refusals.push(
      `worker ${name} has a Proxmox call in flight (${record.intent.op} of vm ${record.intent.vmid}); let apply or the controller finish it first`,
    );
  const claimed = input.records.find((r) => r.vmid === vm.vmid && r.name !== name);
  if (claimed) refusals.push(`vm ${vm.vmid} is already worker ${claimed.name}'s`);
  if (marker && marker.worker !== name)
    refusals.push(
      `vm ${vm.vmid} carries the marker of worker ${marker.worker}: recover it, or remove the marker by hand`,
    );
  if (
    record?.vmid !== undefined &&
    record.vmid !== vm.vmid &&
    input.resources.some((r) => r.vmid === record.vmid)
  )
    refusals.push(`worker ${name} already has vm ${record.vmid}`);
  const others = input.resources.filter((r) => r.name === name && r.vmid !== vm.vmid);
  for (const o of others)
    refusals.push(
      `vm ${o.vmid} on ${o.node} is named ${name} too: which one is meant is ambiguous; rename or remove it first`,
    );

  // The plan as it would be once the marks are written and the record names the vm.
  const marks = adoptionMarks(config, name, input.uid, ownerTag);
  const base = record ?? newRecord(worker, input.uid);
  const after: WorkerRecord = {
    ...base,
    // The spec the manifests declare now (the intake takes it in with the adoption).
    spec: worker.spec,
    specHash: worker.specHash,
    source: worker.source,
    generation: base.specHash === worker.specHash ? base.generation : base.generation + 1,
    uid: input.uid,
    vmid: vm.vmid,
    node: vm.node,
    deployed: deployedOf(worker.spec, vm, config),
  };
  delete after.intent;
  delete after.removeRequestedAt;
  const markedVm: VmResource = { ...vm, tags: marks.tags.split(';') };
  const resources = input.resources.map((r) => (r.vmid === vm.vmid ? markedVm : r));
  const planned = planWorker(after, {
    resources,
    configs: new Map([[vm.vmid, { ...config, ...marks }]]),
    ownerTag,
  }).actions;
  for (const a of planned) {
    if (a.class === 'redeploy' || a.class === 'destructive' || a.kind === 'redeploy')
      refusals.push(`adopting it would ${a.kind} it: ${a.reason}; change the manifest to match the vm first`);
  }
  return { refusals, done: false, after: planned };
}

/** A record for a worker taken in by hand (adopt, recover), before the marks are written. */
export function newRecord(worker: LoadedWorker, uid: string): WorkerRecord {
  const rec: WorkerRecord = {
    name: worker.spec.name,
    spec: worker.spec,
    specHash: worker.specHash,
    generation: 1,
    source: worker.source,
    uid,
    status: { phase: 'Configured', conditions: [], observedGeneration: 0, sessions: [], history: [] },
  };
  return rec;
}

/** A tagged VM with its marker, as recover reads it. */
export interface MarkedVm {
  vm: VmResource;
  config: Readonly<Record<string, string>>;
}

export type RecoveryVerdict =
  | { worker: string; kind: 'recover'; vm: VmResource; uid: string; record: WorkerRecord }
  | { worker: string; kind: 'recorded'; vmid: number }
  | { worker: string; kind: 'ambiguous'; vmids: number[]; reason: string }
  | { worker: string; kind: 'undeclared'; vmids: number[]; reason: string }
  | { worker?: undefined; kind: 'unmarked'; vmids: number[]; reason: string };

/**
 * Matches the VMs carrying the owner tag to the declared workers by their marker. A worker gets a
 * record only when exactly one tagged VM carries its marker and it has no record with a VM yet;
 * anything else is reported and left alone.
 */
export function planRecovery(
  workers: readonly LoadedWorker[],
  records: readonly WorkerRecord[],
  marked: readonly MarkedVm[],
  now: string,
): RecoveryVerdict[] {
  const declared = new Map(workers.map((w) => [w.spec.name, w]));
  const recorded = new Map(records.map((r) => [r.name, r]));
  const byWorker = new Map<string, MarkedVm[]>();
  const unmarked: number[] = [];
  for (const m of marked) {
    const marker = parseMarker(m.config.description);
    if (!marker) unmarked.push(m.vm.vmid);
    else byWorker.set(marker.worker, [...(byWorker.get(marker.worker) ?? []), m]);
  }
  const out: RecoveryVerdict[] = [];
  for (const [name, vms] of [...byWorker].sort(([a], [b]) => a.localeCompare(b))) {
    const vmids = vms.map((m) => m.vm.vmid).sort((a, b) => a - b);
    const worker = declared.get(name);
    const rec = recorded.get(name);
    if (rec?.vmid !== undefined) {
      out.push({ worker: name, kind: 'recorded', vmid: rec.vmid });
      continue;
    }
    if (!worker) {
      out.push({
        worker: name,
        kind: 'undeclared',
        vmids,
        reason: `no manifest declares ${name}: declare it and run recover again, or delete the vm by hand`,
      });
      continue;
    }
    const uids = new Set(vms.map((m) => parseMarker(m.config.description)!.uid));
    if (vms.length > 1) {
      out.push({
        worker: name,
        kind: 'ambiguous',
        vmids,
        reason: `vms ${vmids.join(', ')} all carry the marker of ${name}${uids.size > 1 ? ' (different uids)' : ''}: remove all but one, or adopt one with workerctl adopt ${name} --vmid N`,
      });
      continue;
    }
    const { vm, config } = vms[0]!;
    if (vm.lock) {
      out.push({
        worker: name,
        kind: 'ambiguous',
        vmids,
        reason: `vm ${vm.vmid} is locked (${vm.lock}): a task runs on it; try again when it ended`,
      });
      continue;
    }
    const uid = parseMarker(config.description)!.uid;
    const record: WorkerRecord = {
      ...newRecord(worker, uid),
      vmid: vm.vmid,
      node: vm.node,
      deployed: deployedOf(worker.spec, vm, config),
    };
    record.status = {
      ...record.status,
      phase: 'ShutDown',
      history: [
        { time: now, action: 'recovered', cause: `vm ${vm.vmid} on ${vm.node} carries its tag and marker` },
      ],
    };
    if (rec) {
      // A record without a vm (an OnDemand worker never deployed, as far as the state knows).
      record.generation = rec.generation;
      record.status.history = [...rec.status.history, ...record.status.history];
    }
    out.push({ worker: name, kind: 'recover', vm, uid, record });
  }
  if (unmarked.length > 0) {
    out.push({
      kind: 'unmarked',
      vmids: unmarked.sort((a, b) => a - b),
      reason:
        'they carry the owner tag but no marker: left alone (adopt one with workerctl adopt NAME --vmid N)',
    });
  }
  return out;
}
