/**
 * Named PVE formats (pve-common PVE/JSONSchema.pm register_format and the pve_verify_* functions; qemu-server
 * PVE/QemuServer.pm for the qemu ones).
 * Each validator returns an error text (without the "invalid format - " prefix) or undefined.
 * Formats not listed here are accepted as is.
 */
import { isIPv4, isIPv6 } from 'node:net';

type FormatCheck = (value: string) => string | undefined;

const TAG_RE = /^[a-z0-9_][a-z0-9_\-+.]*$/i;
const DNS_LABEL = '[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?';
const DNS_NAME_RE = new RegExp(`^(${DNS_LABEL}\\.)*${DNS_LABEL}$`);
const CONFIGID_RE = /^[a-z][a-z0-9_-]+$/i;

function isCidr4(v: string): boolean {
  const m = /^([^/]+)\/(\d+)$/.exec(v);
  return !!m && isIPv4(m[1]) && Number(m[2]) <= 32;
}
function isCidr6(v: string): boolean {
  const m = /^([^/]+)\/(\d+)$/.exec(v);
  return !!m && isIPv6(m[1]) && Number(m[2]) <= 128;
}

/** Splits a PVE list (`;`, `,` or whitespace separated). */
export function splitList(v: string): string[] {
  return v.split(/[;,\s]+/).filter((s) => s.length > 0);
}

/** pve-qm-ipconfig: `[ip=<IPv4/CIDR|dhcp>][,gw=<IPv4>][,ip6=<IPv6/CIDR|dhcp|auto>][,gw6=<IPv6>]`. */
export function checkIpconfig(v: string): string | undefined {
  const kv: Record<string, string> = {};
  for (const part of v.split(',')) {
    if (part === '') continue;
    const m = /^([^=]+)=(.*)$/.exec(part);
    if (!m) return `format error\nip: missing key for value '${part}'`;
    if (!['ip', 'gw', 'ip6', 'gw6'].includes(m[1]))
      return `format error\n${m[1]}: property is not defined in schema`;
    kv[m[1]] = m[2];
  }
  if (kv.ip !== undefined && kv.ip !== 'dhcp' && !isCidr4(kv.ip))
    return `format error\nip: invalid format - invalid IPv4 CIDR '${kv.ip}'`;
  if (kv.gw !== undefined && !isIPv4(kv.gw))
    return `format error\ngw: invalid format - invalid IPv4 address '${kv.gw}'`;
  if (kv.ip6 !== undefined && !['dhcp', 'auto'].includes(kv.ip6) && !isCidr6(kv.ip6))
    return `format error\nip6: invalid format - invalid IPv6 CIDR '${kv.ip6}'`;
  if (kv.gw6 !== undefined && !isIPv6(kv.gw6))
    return `format error\ngw6: invalid format - invalid IPv6 address '${kv.gw6}'`;
  if (kv.gw !== undefined && kv.ip === undefined) return 'gateway specified without specifying an IP address';
  if (kv.gw !== undefined && kv.ip === 'dhcp') return 'gateway specified together with DHCP';
  if (kv.gw6 !== undefined && kv.ip6 === undefined)
    return 'gateway specified without specifying an IPv6 address';
  if (kv.gw6 !== undefined && ['dhcp', 'auto'].includes(kv.ip6 ?? ''))
    return 'gateway specified together with DHCP';
  return undefined;
}

const FORMATS: Record<string, FormatCheck> = {
  'pve-vmid': (v) => (/^[1-9][0-9]{2,8}$/.test(v) ? undefined : 'value does not look like a valid VM ID'),
  'pve-node': (v) =>
    /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/.test(v)
      ? undefined
      : 'value does not look like a valid node name',
  'dns-name': (v) => (DNS_NAME_RE.test(v) ? undefined : 'value does not look like a valid DNS name'),
  'pve-configid': (v) => (CONFIGID_RE.test(v) ? undefined : `invalid configuration ID '${v}'`),
  'pve-storage-id': (v) =>
    /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i.test(v) ? undefined : `storage ID '${v}' contains illegal characters`,
  'pve-poolid': (v) =>
    /^[A-Za-z0-9_\-/]+$/.test(v) ? undefined : `pool name '${v}' contains illegal characters`,
  'pve-bridge-id': (v) =>
    /^[-_.\w\d]+$/.test(v) ? undefined : `bridge name '${v}' contains illegal characters`,
  urlencoded: (v) => (/^[-%a-zA-Z0-9_.!~*'()]*$/.test(v) ? undefined : `invalid urlencoded string: ${v}`),
  'pve-tag-list': (v) => {
    const tags = splitList(v);
    if (tags.length === 0) return 'no tags given';
    const bad = tags.find((t) => !TAG_RE.test(t));
    return bad === undefined ? undefined : `invalid tag '${bad}'`;
  },
  'mac-addr': (v) => {
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(v)) return `value does not look like a valid MAC address`;
    return parseInt(v.slice(0, 2), 16) & 1 ? `value is not a valid unicast MAC address` : undefined;
  },
  ipv4: (v) => (isIPv4(v) ? undefined : `value does not look like a valid IPv4 address`),
  ipv6: (v) => (isIPv6(v) ? undefined : `value does not look like a valid IPv6 address`),
  ip: (v) => (isIPv4(v) || isIPv6(v) ? undefined : `value does not look like a valid IP address`),
  CIDR: (v) => (isCidr4(v) || isCidr6(v) ? undefined : `value does not look like a valid CIDR network`),
  'address-list': (v) => {
    const bad = splitList(v).find((a) => !isIPv4(a) && !isIPv6(a));
    return bad === undefined ? undefined : `value does not look like a valid address: ${bad}`;
  },
  'pve-qm-ipconfig': checkIpconfig,
  'pve-userid': (v) =>
    /^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+$/.test(v)
      ? undefined
      : `value '${v}' does not look like a valid user name`,
  'pve-realm': (v) =>
    /^[A-Za-z][A-Za-z0-9.\-_]+$/.test(v) ? undefined : `value '${v}' does not look like a valid realm`,
  'disk-size': (v) => (/^(\d+(\.\d+)?)([KMGT])?$/.test(v) ? undefined : `unable to parse size '${v}'`),
  'pve-volume-id-or-qm-path': (v) =>
    /^(none|cdrom)$/.test(v) || /^[a-z][a-z0-9\-_.]*[a-z0-9]:.+$/i.test(v) || v.startsWith('/')
      ? undefined
      : `unable to parse volume ID '${v}'`,
  'pve-startup-order': (v) =>
    /^((order=)?\d+)?(,?(up|down)=\d+)*$/.test(v) && v !== '' ? undefined : `invalid startup order '${v}'`,
  'pve-storage-content': (v) =>
    /^(images|rootdir|vztmpl|iso|backup|snippets|import)$/.test(v)
      ? undefined
      : `invalid content type '${v}'`,
};

/** Validates `value` against a named format; `-list` formats check each item with the base format. */
export function checkNamedFormat(name: string, value: string): string | undefined {
  const direct = FORMATS[name];
  if (direct) return direct(value);
  if (name.endsWith('-list')) {
    const base = FORMATS[name.slice(0, -5)];
    if (!base) return undefined;
    for (const item of splitList(value)) {
      const err = base(item);
      if (err) return err;
    }
  }
  return undefined;
}
