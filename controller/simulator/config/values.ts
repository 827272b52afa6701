/** PVE config value rules: tag normalisation, canonical net strings, SSH key checks, output typing. */
import { configKeyType } from '../schema/pve-schema.js';
import { splitList } from '../schema/formats.js';
import { ApiError } from '../http/api-error.js';

/** Keys applied at once on a running VM (qemu-server "fast plug" options). */
export const FAST_KEYS = new Set([
  'name',
  'description',
  'tags',
  'onboot',
  'protection',
  'startup',
  'hookscript',
  'lock',
  'shares',
]);

/** Cloud-init keys: applied to the config at once, reach the guest at the next boot. */
export const CLOUDINIT_KEYS = new Set([
  'ciuser',
  'cipassword',
  'sshkeys',
  'nameserver',
  'searchdomain',
  'citype',
  'cicustom',
  'ciupgrade',
]);

export const DISK_KEY_RE = /^(scsi|virtio|sata|ide)\d+$|^efidisk0$|^tpmstate0$/;

/** Whether a change to `key` takes effect at once on a running VM (default hotplug: network,disk,usb). */
export function appliesWhileRunning(key: string): boolean {
  return (
    FAST_KEYS.has(key) ||
    CLOUDINIT_KEYS.has(key) ||
    /^ipconfig\d+$/.test(key) ||
    /^net\d+$/.test(key) ||
    /^usb\d+$/.test(key) ||
    /^unused\d+$/.test(key) ||
    DISK_KEY_RE.test(key)
  );
}

/** Normalised tags: lowercased, de-duplicated, sorted, `;`-joined. */
export function normalizeTags(value: string): string {
  return [...new Set(splitList(value).map((t) => t.toLowerCase()))].sort().join(';');
}

/** Parses a simple property string (`a=b,c=d`, bare value under `defaultKey`). */
export function parseProps(value: string, defaultKey?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (defaultKey) out[defaultKey] = part;
    } else out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

const NIC_MODELS = new Set([
  'e1000',
  'e1000-82540em',
  'e1000-82544gc',
  'e1000-82545em',
  'e1000e',
  'i82551',
  'i82557b',
  'i82559er',
  'ne2k_isa',
  'ne2k_pci',
  'pcnet',
  'rtl8139',
  'virtio',
  'vmxnet3',
]);

/** A parsed net[n] value. */
export interface NetValue {
  model: string;
  mac: string;
  bridge?: string;
  tag?: string;
  rest: Record<string, string>;
}

/** Parses net[n] (`virtio=MAC,bridge=..` or `model=virtio,macaddr=..`). */
export function parseNet(value: string): NetValue {
  let model = 'virtio';
  let mac = '';
  const rest: Record<string, string> = {};
  for (const part of value.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    if (NIC_MODELS.has(k)) {
      model = k;
      if (v) mac = v;
    } else if (k === 'model') model = v;
    else if (k === 'macaddr') mac = v;
    else rest[k] = v;
  }
  return { model, mac: mac.toUpperCase(), bridge: rest.bridge, tag: rest.tag, rest };
}

/** Canonical net string: `<model>=<MAC>` then the other keys alphabetically; a MAC is generated when missing. */
export function canonicalNet(value: string, genMac: () => string): string {
  const n = parseNet(value);
  const mac = n.mac || genMac();
  const keys = Object.keys(n.rest).sort();
  return [`${n.model}=${mac}`, ...keys.map((k) => `${k}=${n.rest[k]}`)].join(',');
}

/** Same NIC with a fresh MAC (clone). */
export function withNewMac(value: string, genMac: () => string): string {
  const n = parseNet(value);
  const keys = Object.keys(n.rest).sort();
  return [`${n.model}=${genMac()}`, ...keys.map((k) => `${k}=${n.rest[k]}`)].join(',');
}

const KEY_TYPES =
  /^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)$/;

/** Validates URL-encoded sshkeys as ssh-keygen would (500 "SSH public key validation error"). */
export function validateSshKeys(encoded: string): void {
  let text: string;
  try {
    text = decodeURIComponent(encoded);
  } catch {
    throw new ApiError(400, 'Parameter verification failed.', {
      errors: { sshkeys: `invalid format - invalid urlencoded string: ${encoded}` },
    });
  }
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (l === '' || l.startsWith('#')) continue;
    const parts = l.split(/\s+/);
    let ok = parts.length >= 2 && KEY_TYPES.test(parts[0]) && /^[A-Za-z0-9+/]+={0,2}$/.test(parts[1]);
    if (ok) {
      const blob = Buffer.from(parts[1], 'base64');
      const len = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
      ok = len > 0 && blob.subarray(4, 4 + len).toString('latin1') === parts[0];
    }
    if (!ok) throw new ApiError(500, 'SSH public key validation error');
  }
}

/** Size string (`10G`, `512M`, `+2G`) in GiB. */
export function parseSizeGiB(size: string): number {
  const m = /^\+?(\d+(?:\.\d+)?)([KMGT])?$/.exec(size);
  if (!m) return NaN;
  const n = Number(m[1]);
  const unit = m[2] ?? '';
  const factor: Record<string, number> = { '': 1 / 1024 ** 3, K: 1 / 1024 ** 2, M: 1 / 1024, G: 1, T: 1024 };
  return n * factor[unit];
}

/** GiB as PVE writes sizes in drive strings (`10G`, `512M`). */
export function formatSize(gib: number): string {
  if (Number.isInteger(gib)) return `${gib}G`;
  const mib = Math.round(gib * 1024);
  return `${mib}M`;
}

/** A config value typed as PVE outputs it: integers and booleans as numbers, everything else as strings. */
export function typedConfigValue(key: string, value: string): string | number {
  const t = configKeyType(key);
  if ((t === 'integer' || t === 'boolean') && /^[+-]?\d+$/.test(value)) return Number(value);
  return value;
}

/** Serialises a config (and its pending section) the way qemu-server writes it; the digest is its SHA-1. */
export function serializeConfig(
  config: Record<string, string>,
  pending: Record<string, string>,
  pendingDelete: string[],
): string {
  const lines: string[] = [];
  const desc = config.description;
  if (desc !== undefined) for (const l of desc.split('\n')) lines.push(`#${l}`);
  for (const k of Object.keys(config).sort()) if (k !== 'description') lines.push(`${k}: ${config[k]}`);
  if (Object.keys(pending).length > 0 || pendingDelete.length > 0) {
    lines.push('', '[PENDING]');
    for (const k of Object.keys(pending).sort()) lines.push(`${k}: ${pending[k]}`);
    if (pendingDelete.length > 0) lines.push(`delete: ${pendingDelete.join(',')}`);
  }
  return lines.join('\n') + '\n';
}
