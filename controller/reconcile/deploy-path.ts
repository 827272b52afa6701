/**
 * Which way a worker's VM can be deployed, decided before anything is cloned (pure). A real cluster
 * allows only some ways (qemu-server PVE/API2/Qemu.pm):
 * - clone_vm refuses `target` with a non-shared `storage` ("can't clone to non-shared storage") and
 *   refuses `target` at all when any template volume, CD-ROM or cloud-init drive included, is on
 *   non-shared storage ($check_storage_access_clone: "VM uses local storage");
 * - move_vm_disk moves a disk to another storage of the VM's own node;
 * - migrate_vm moves a stopped VM with its local disks to another node (`targetstorage` maps them),
 *   but not a local CD-ROM image (PVE/QemuMigrate.pm scan_local_volumes: "local cdrom image").
 * So, in order of preference: a template of that name on the worker's node (a local clone); a
 * template on shared storage cloned across with `target` onto a shared worker storage, or onto a
 * shared storage and then moved to the worker's local storage; a template on local storage cloned on
 * its node and migrated offline. When none applies, or the template lacks what the worker needs
 * (a cloud-init drive for a static address or DNS, the guest agent, a disk on a known bus), the
 * answer is an error that names the worker and what to change.
 */
import type { PveStorage, VmResource } from '../proxmox/types.js';
import type { DeployPath, DeployStep, WorkerSpec } from '../types.js';
import { diskStorage, parsePropertyString, primaryDiskKey } from './normalize.js';

/** What the choice reads: storages per node and template configs (observe.ts gathers them). */
export interface DeployFacts {
  /** GET /nodes/{node}/storage per node. */
  storages: ReadonlyMap<string, readonly PveStorage[]>;
  /** Template configs by vmid. */
  templates: ReadonlyMap<number, Readonly<Record<string, string>>>;
}

/** Why no deploy is possible; the code becomes the condition's reason. */
export type DeployPathProblem = 'TemplateNotFound' | 'TemplateCheckFailed' | 'NoDeployPath';

export type PathChoice =
  | { ok: true; path: DeployPath }
  | { ok: false; code: DeployPathProblem; message: string }
  /** The facts needed are not read yet. */
  | { ok: false; code: 'Unknown'; template: VmResource };

/** The templates a spec names (a vmid or a name), the one on the worker's node first. */
export function templateCandidates(
  resources: readonly VmResource[],
  spec: Pick<WorkerSpec, 'template' | 'host'>,
): VmResource[] {
  const t = spec.template;
  const byId = typeof t === 'number' || /^\d+$/.test(t);
  return resources
    .filter((r) => r.template && (byId ? r.vmid === Number(t) : r.name === t))
    .sort((a, b) => (a.node === spec.host ? 0 : 1) - (b.node === spec.host ? 0 : 1) || a.vmid - b.vmid);
}

const DRIVE_KEY = /^(scsi|virtio|sata|ide|efidisk|tpmstate)\d+$/;

/** A drive's volume id (`cephpool:base-9000-disk-0`), or undefined for none/cdrom without a file. */
function volumeOf(value: string): string | undefined {
  const first = parsePropertyString(value)[0];
  const v = first && (first.key === undefined || first.key === 'file') ? first.value : undefined;
  return v && v.includes(':') ? v : undefined;
}

/** qemu-server PVE/QemuServer/Drive.pm drive_is_cloudinit. */
export function isCloudinitVolume(volid: string): boolean {
  return /[:/](?:vm-\d+-)?cloudinit(?:\.(?:raw|qcow2|vmdk))?$/.test(volid);
}

/** The template has a cloud-init drive (PVE generates cloud-init data only for one). */
export function hasCloudinitDrive(cfg: Readonly<Record<string, string>>): boolean {
  return Object.entries(cfg).some(([k, v]) => DRIVE_KEY.test(k) && isCloudinitVolume(volumeOf(v) ?? ''));
}

/** The `agent` option is enabled (`1` or `enabled=1`, qemu-server PVE/QemuServer/Agent.pm). */
export function agentEnabled(cfg: Readonly<Record<string, string>>): boolean {
  const items = parsePropertyString(cfg.agent ?? '');
  const enabled = (items.find((i) => i.key === undefined) ?? items.find((i) => i.key === 'enabled'))?.value;
  return enabled === '1' || enabled === 'true' || enabled === 'on' || enabled === 'yes';
}

/** The worker needs cloud-init: a static address or its own DNS servers. */
export function needsCloudinit(spec: WorkerSpec): boolean {
  return spec.dns !== 'auto' || spec.networks.some((n) => n.ipv4 !== 'dhcp');
}

function usable(storages: readonly PveStorage[] | undefined, id: string): PveStorage | undefined {
  return storages?.find((s) => s.storage === id && s.enabled !== false && s.content.includes('images'));
}

/** The template's checks (what the worker needs of it); a message with the fix, or undefined. */
function checkTemplate(
  spec: WorkerSpec,
  tpl: VmResource,
  cfg: Readonly<Record<string, string>>,
): string | undefined {
  const what = `template ${tplName(tpl)} (vm ${tpl.vmid} on ${tpl.node})`;
  if (!primaryDiskKey(cfg)) {
    return `${what} has no disk on a bus workerctl can grow (scsi, virtio, sata, ide): attach its system disk as scsi0`;
  }
  if (!agentEnabled(cfg)) {
    return `${what} has the QEMU guest agent off: install qemu-guest-agent in its image and run 'qm set ${tpl.vmid} --agent enabled=1'`;
  }
  if (needsCloudinit(spec) && !hasCloudinitDrive(cfg)) {
    return (
      `worker ${spec.name} has a static address or DNS servers, which reach the guest only through cloud-init, ` +
      `but ${what} has no cloud-init drive: run 'qm set ${tpl.vmid} --ide2 STORAGE:cloudinit' on ${tpl.node}`
    );
  }
  return undefined;
}

function tplName(tpl: VmResource): string {
  return tpl.name ?? String(tpl.vmid);
}

/** Chooses the deploy path of `spec` (see the file comment). */
export function chooseDeployPath(
  spec: WorkerSpec,
  resources: readonly VmResource[],
  facts: DeployFacts | undefined,
): PathChoice {
  const tpl = templateCandidates(resources, spec)[0];
  if (!tpl) {
    return {
      ok: false,
      code: 'TemplateNotFound',
      message: `worker ${spec.name}: template ${spec.template} not found in the cluster: create it or fix spec.template`,
    };
  }
  const cfg = facts?.templates.get(tpl.vmid);
  const hostStorages = facts?.storages.get(spec.host);
  const tplStorages = facts?.storages.get(tpl.node);
  if (!cfg || !hostStorages || !tplStorages) return { ok: false, code: 'Unknown', template: tpl };

  const problem = checkTemplate(spec, tpl, cfg);
  if (problem) return { ok: false, code: 'TemplateCheckFailed', message: problem };
  const disk = primaryDiskKey(cfg)!;
  const template = { vmid: tpl.vmid, node: tpl.node, ...(tpl.name ? { name: tpl.name } : {}) };
  const base = { template, node: spec.host, storage: spec.storage, disk };
  const noPath = (why: string): PathChoice => ({
    ok: false,
    code: 'NoDeployPath',
    message: `worker ${spec.name}: no way to deploy ${tplName(tpl)} (vm ${tpl.vmid} on ${tpl.node}) to ${spec.storage} on ${spec.host}: ${why}`,
  });

  const target = usable(hostStorages, spec.storage);
  if (!target) {
    return noPath(
      `storage ${spec.storage} does not exist on ${spec.host} or holds no VM images; set spec.storage to a storage of ${spec.host} with content 'images'`,
    );
  }
  if (tpl.node === spec.host) {
    return { ok: true, path: { ...base, kind: 'local', cloneStorage: spec.storage, cloneNode: spec.host } };
  }

  const volumes = Object.entries(cfg)
    .filter(([k]) => DRIVE_KEY.test(k))
    .map(([k, v]) => ({ key: k, value: v, volid: volumeOf(v) }))
    .filter((d): d is { key: string; value: string; volid: string } => d.volid !== undefined);
  const sharedOnTpl = (sid: string) => tplStorages.find((s) => s.storage === sid)?.shared === true;
  const local = volumes.filter((d) => !sharedOnTpl(d.volid.split(':')[0]!));
  const diskSid = diskStorage(cfg[disk]!);

  if (local.length === 0) {
    if (target.shared && usable(tplStorages, spec.storage)) {
      return {
        ok: true,
        path: { ...base, kind: 'target', cloneStorage: spec.storage, cloneNode: spec.host },
      };
    }
    // A shared storage both nodes reach, the template's own first, then move the disk.
    const shared = tplStorages
      .filter((s) => s.shared && usable(tplStorages, s.storage) && usable(hostStorages, s.storage))
      .sort((a, b) => (a.storage === diskSid ? -1 : b.storage === diskSid ? 1 : 0));
    const via = shared[0];
    if (!via) {
      return noPath(
        `no shared storage with content 'images' is on both ${tpl.node} and ${spec.host}; put a copy of the template on ${spec.host}`,
      );
    }
    return {
      ok: true,
      path: { ...base, kind: 'target-move', cloneStorage: via.storage, cloneNode: spec.host },
    };
  }

  // The template uses local storage: clone on its node, then migrate offline.
  const cdrom = local.find((d) => /(^|,)media=cdrom(,|$)/.test(d.value) && !isCloudinitVolume(d.volid));
  if (cdrom) {
    return noPath(
      `the template has a CD-ROM on local storage (${cdrom.key}: ${cdrom.volid}), which blocks a migration; remove it with 'qm set ${tpl.vmid} --${cdrom.key} none' or put a copy of the template on ${spec.host}`,
    );
  }
  const onTpl = usable(tplStorages, spec.storage) ?? (diskSid ? usable(tplStorages, diskSid) : undefined);
  if (!onTpl) {
    return noPath(
      `neither ${spec.storage} nor the template's storage holds VM images on ${tpl.node}; put a copy of the template on ${spec.host}`,
    );
  }
  return {
    ok: true,
    path: { ...base, kind: 'migrate', cloneStorage: onTpl.storage, cloneNode: tpl.node },
  };
}

/** The steps after the clone that a path needs, then the finish. */
export function stepsOf(path: DeployPath): DeployStep[] {
  if (path.kind === 'target-move') return ['clone', 'move-disk', 'finish'];
  if (path.kind === 'migrate') return ['clone', 'migrate', 'finish'];
  return ['clone', 'finish'];
}

/** In words, for plans: "clone worker-template (vm 9000 on pve1) to cephpool on pve2, then move disk scsi0 to local-lvm". */
export function describePath(path: DeployPath): string {
  const tpl = `${path.template.name ?? path.template.vmid} (vm ${path.template.vmid} on ${path.template.node})`;
  const clone = `clone ${tpl} to ${path.cloneStorage} on ${path.cloneNode}`;
  if (path.kind === 'target-move') return `${clone}, then move disk ${path.disk} to ${path.storage}`;
  if (path.kind === 'migrate') return `${clone}, then migrate it offline to ${path.storage} on ${path.node}`;
  return clone;
}
