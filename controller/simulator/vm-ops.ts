/** VM state transitions shared by the handlers and the in-process API: pending view, boot, halt, config writes. */
import { createHash } from 'node:crypto';
import {
  appliesWhileRunning,
  canonicalNet,
  DISK_KEY_RE,
  formatSize,
  normalizeTags,
  parseProps,
  serializeConfig,
} from './config/values.js';
import { fail, paramError } from './http/api-error.js';
import { methodSchema } from './schema/pve-schema.js';
import { lookupProperty } from './schema/validate.js';
import type { Rng } from './rng.js';
import { cloudInitOf, hasCloudinitDrive } from './world/state.js';
import type { VmState, World } from './world/state.js';

/** Config with pending changes applied (what GET config shows by default). */
export function pendingView(vm: VmState): Record<string, string> {
  const out: Record<string, string> = { ...vm.config, ...vm.pending };
  for (const k of vm.pendingDelete) delete out[k];
  return out;
}

/** Applies pending changes (start, reboot, or any write while stopped). */
export function applyPending(vm: VmState): void {
  vm.config = pendingView(vm);
  vm.pending = {};
  vm.pendingDelete = [];
}

/** SHA-1 of the serialised config: changes with every write. */
export function digestOf(vm: VmState): string {
  return createHash('sha1')
    .update(serializeConfig(vm.config, vm.pending, vm.pendingDelete))
    .digest('hex');
}

/** Marks the VM running and schedules its guest agent. */
export function bootGuest(vm: VmState, now: number, agentBootRealMs: number): void {
  applyPending(vm);
  vm.status = 'running';
  vm.startedAt = now;
  vm.pid = 10000 + (vm.vmid % 50000) + vm.guest.boots;
  vm.guest.boots++;
  vm.guest.cloudinit = hasCloudinitDrive(vm.config, vm.vmid);
  vm.guest.applied = vm.guest.cloudinit ? cloudInitOf(vm.config) : {};
  vm.guest.agentReadyAt = now + agentBootRealMs;
  vm.guest.execs.clear();
}

/** Marks the VM stopped. */
export function haltGuest(vm: VmState): void {
  vm.status = 'stopped';
  vm.startedAt = undefined;
  vm.pid = undefined;
  vm.guest.agentReadyAt = undefined;
  vm.guest.execs.clear();
}

/** A crypt-like hash for cipassword (stored hashed, never shown). */
function hashPassword(pw: string, rng: Rng): string {
  const salt = Array.from({ length: 8 }, () => 'abcdefghijklmnopqrstuvwxyz0123456789'[rng.int(0, 35)]).join(
    '',
  );
  return `$5$${salt}$${createHash('sha256')
    .update(salt + pw)
    .digest('base64')
    .replace(/=+$/, '')}`;
}

/** Next free disk index of a volume name prefix on a VM. */
function nextDiskName(vm: VmState, storage: string): string {
  for (let i = 0; ; i++) {
    const volid = `${storage}:vm-${vm.vmid}-disk-${i}`;
    if (!vm.volumes[volid]) return volid;
  }
}

/** Turns new-disk syntax (`storage:SIZE`, `storage:cloudinit`) into allocated volumes. */
export function allocateDisk(world: World, vm: VmState, key: string, value: string): string {
  const props = parseProps(value, 'file');
  const file = props.file ?? '';
  const m = /^([a-z][a-z0-9\-_.]*[a-z0-9]):(\d+(?:\.\d+)?|cloudinit)$/i.exec(file);
  if (!m) return value;
  const storage = m[1];
  if (!world.storages.has(storage)) throw fail(`storage '${storage}' does not exist`);
  if (!world.storageOnNode(storage, vm.node))
    throw fail(`storage '${storage}' is not available on node '${vm.node}'`);
  const rest = Object.entries(props)
    .filter(([k]) => k !== 'file')
    .map(([k, v]) => `${k}=${v}`);
  if (m[2] === 'cloudinit') {
    const volid = `${storage}:vm-${vm.vmid}-cloudinit`;
    vm.volumes[volid] = { storage, sizeGiB: 0, usedGiB: 0 };
    return [volid, 'media=cdrom', ...rest.filter((r) => !r.startsWith('media='))].join(',');
  }
  const size = Number(m[2]);
  const volid = nextDiskName(vm, storage);
  vm.volumes[volid] = { storage, sizeGiB: size, usedGiB: 0 };
  return [volid, ...rest.filter((r) => !r.startsWith('size=')), `size=${formatSize(size)}`].join(',');
}

/** Keys of config params (everything except the control parameters of the config API). */
const CONTROL = new Set([
  'node',
  'vmid',
  'digest',
  'delete',
  'revert',
  'force',
  'skiplock',
  'background_delay',
]);

/** Whether `key` is a VM config key of the schema (net0, scsi3, cores, ...). */
function isConfigKey(key: string): boolean {
  if (CONTROL.has(key)) return false;
  return (
    lookupProperty(methodSchema('PUT', '/nodes/{node}/qemu/{vmid}/config')?.properties ?? {}, key) !==
    undefined
  );
}

/** The changes a config request asks for. */
export interface ConfigChanges {
  set: Record<string, string>;
  del: string[];
  revert: string[];
  force: boolean;
}

/**
 * Splits request params into set/delete/revert with the synchronous checks of qemu-server
 * PVE/API2/Qemu.pm update_vm_api, in its order and with its texts (the `revert` conflict is reported under
 * `delete` there too); option_exists is the config schema.
 */
export function configChanges(params: Record<string, unknown>): ConfigChanges {
  const set: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) if (!CONTROL.has(k)) set[k] = String(v);
  const split = (v: unknown): string[] => (typeof v === 'string' ? v.split(/[;,\s]+/).filter(Boolean) : []);
  const delStr = split(params.delete);
  const revert = split(params.revert);
  if (Object.keys(set).length === 0 && delStr.length === 0 && revert.length === 0)
    throw fail('no options specified');
  for (const k of revert) {
    if (!isConfigKey(k)) throw paramError({ revert: `unknown option '${k}'` });
    if (set[k] !== undefined)
      throw paramError({ delete: `you can't use '-${k}' and -revert ${k}' at the same time` });
  }
  const del: string[] = [];
  for (const raw of delStr) {
    const k = raw === 'cdrom' ? 'ide2' : raw;
    if (set[k] !== undefined)
      throw paramError({ delete: `you can't use '-${k}' and -delete ${k}' at the same time` });
    if (revert.includes(k))
      throw paramError({ revert: `you can't use '-delete ${k}' and -revert ${k}' at the same time` });
    if (!isConfigKey(k)) throw paramError({ delete: `unknown option '${k}'` });
    del.push(k);
  }
  return { set, del, revert, force: params.force === 1 };
}

/** Writes config changes (under the flock): fast/cloud-init/hotplug keys at once on a running VM, the rest pending. */
export function writeConfig(
  world: World,
  rng: Rng,
  vm: VmState,
  ch: ConfigChanges,
  log: (l: string) => void = () => undefined,
): void {
  const running = vm.status === 'running';
  for (const k of ch.revert) {
    delete vm.pending[k];
    vm.pendingDelete = vm.pendingDelete.filter((d) => d !== k);
  }
  for (const k of ch.del) {
    const current = pendingView(vm)[k];
    if (current === undefined) {
      log(`cannot delete '${k}' - not set in current configuration!`);
      continue;
    }
    if (running && !appliesWhileRunning(k) && vm.config[k] !== undefined) {
      delete vm.pending[k];
      if (!vm.pendingDelete.includes(k)) vm.pendingDelete.push(k);
      continue;
    }
    delete vm.pending[k];
    if (DISK_KEY_RE.test(k) && !/media=cdrom/.test(vm.config[k] ?? '')) {
      const volid = parseProps(vm.config[k] ?? '', 'file').file;
      if (ch.force && volid) delete vm.volumes[volid];
      else if (volid && vm.volumes[volid]) {
        let i = 0;
        while (vm.config[`unused${i}`] !== undefined) i++;
        vm.config[`unused${i}`] = volid;
      }
    } else if (/^unused\d+$/.test(k)) {
      delete vm.volumes[vm.config[k]];
    }
    delete vm.config[k];
  }
  for (const [k, raw] of Object.entries(ch.set)) {
    let v = raw.trim();
    if (k === 'description') v = raw.replace(/\s+$/, '');
    if (k === 'tags') v = normalizeTags(v);
    else if (/^net\d+$/.test(k)) v = canonicalNet(v, () => world.genMac());
    else if (k === 'cipassword') v = hashPassword(v, rng);
    else if (DISK_KEY_RE.test(k)) v = allocateDisk(world, vm, k, v);
    if (running && !appliesWhileRunning(k)) {
      if (vm.config[k] === v) delete vm.pending[k];
      else vm.pending[k] = v;
      vm.pendingDelete = vm.pendingDelete.filter((d) => d !== k);
    } else {
      vm.config[k] = v;
      delete vm.pending[k];
      vm.pendingDelete = vm.pendingDelete.filter((d) => d !== k);
    }
  }
  if (!running) applyPending(vm);
}

/** Checks balloon <= memory in the resulting config. */
export function checkBalloon(vm: VmState, ch: ConfigChanges): void {
  const view = { ...pendingView(vm), ...ch.set };
  const mem = Number(parseProps(view.memory ?? '512', 'current').current ?? 512);
  if (view.balloon !== undefined && Number(view.balloon) > mem)
    throw fail('balloon value too large (must be smaller than assigned memory)');
}

/** Memory in MiB of a config. */
export function memoryMiB(config: Record<string, string>): number {
  return Number(parseProps(config.memory ?? '512', 'current').current ?? 512);
}

/** Total provisioned and used GiB of a VM's volumes. */
export function diskTotals(vm: VmState): { size: number; used: number } {
  let size = 0;
  let used = 0;
  for (const v of Object.values(vm.volumes)) {
    size += v.sizeGiB;
    used += v.usedGiB;
  }
  return { size, used };
}
