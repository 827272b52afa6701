/**
 * Checks the schema cannot express. Per worker: addressing, routing, DNS, proxy, sizing. Across
 * workers: unique names and unique static addresses. Findings use the same shape as schema errors.
 */
import type { WorkerSpec } from '../types.js';
import { defaultSizeFor, type WorkerDocument } from './defaults.js';
import type { Finding } from './finding.js';
import {
  broadcastOf,
  formatIpv4,
  inSubnet,
  networkOf,
  parseCidr,
  parseIpv4,
  subnetsOverlap,
  type Cidr,
} from './ipv4.js';

/** Checks one schema-valid worker (`doc` as written, `spec` with defaults applied). */
export function workerFindings(doc: WorkerDocument, spec: WorkerSpec): Finding[] {
  return [
    ...networkFindings(spec),
    ...dnsFindings(doc, spec),
    ...updatesFindings(spec),
    ...sizingFindings(doc, spec),
    ...templateFindings(spec),
  ];
}

function networkFindings(spec: WorkerSpec): Finding[] {
  const out: Finding[] = [];
  const seenLinks = new Map<string, number>();
  const cidrs: { i: number; cidr: Cidr }[] = [];
  spec.networks.forEach((net, i) => {
    const base = `/spec/networks/${i}`;
    const link = `${net.bridge}/${net.vlan ?? 'untagged'}`;
    const first = seenLinks.get(link);
    if (first !== undefined) {
      out.push({
        pointer: base,
        severity: 'error',
        code: 'semantic.duplicate-network',
        message: `spec.networks[${i}] uses bridge ${net.bridge}${net.vlan ? ` vlan ${net.vlan}` : ' untagged'} like spec.networks[${first}]`,
        hint: 'two interfaces on the same bridge and VLAN give the worker nothing; remove one or change its vlan',
      });
    } else seenLinks.set(link, i);
    if (net.ipv4 === 'dhcp') return;
    const cidr = parseCidr(net.ipv4.address);
    if (!cidr) return;
    const addrPtr = `${base}/ipv4/address`;
    if (cidr.prefix <= 30 && (cidr.ip === networkOf(cidr) || cidr.ip === broadcastOf(cidr))) {
      const what = cidr.ip === networkOf(cidr) ? 'network' : 'broadcast';
      out.push({
        pointer: addrPtr,
        severity: 'error',
        code: 'semantic.reserved-address',
        message: `${net.ipv4.address} is the ${what} address of its subnet, not a host address`,
        value: net.ipv4.address,
        hint: `host addresses in ${formatIpv4(networkOf(cidr))}/${cidr.prefix} run from ${formatIpv4(networkOf(cidr) + 1)} to ${formatIpv4(broadcastOf(cidr) - 1)}`,
      });
    }
    for (const other of cidrs) {
      if (subnetsOverlap(other.cidr, cidr)) {
        out.push({
          pointer: addrPtr,
          severity: 'warning',
          code: 'semantic.overlapping-subnets',
          message: `${net.ipv4.address} overlaps the subnet of spec.networks[${other.i}]`,
          value: net.ipv4.address,
          hint: 'two interfaces in one subnet make routing ambiguous; use separate subnets',
        });
        break;
      }
    }
    cidrs.push({ i, cidr });
    const gwText = net.ipv4.gateway;
    if (gwText === undefined) return;
    const gwPtr = `${base}/ipv4/gateway`;
    if (i > 0) {
      out.push({
        pointer: gwPtr,
        severity: 'error',
        code: 'semantic.gateway-not-first',
        message: `spec.networks[${i}] has a gateway, but only the first network routes`,
        value: gwText,
        hint: 'remove this gateway; put the default gateway on spec.networks[0]',
      });
      return;
    }
    const gw = parseIpv4(gwText);
    if (gw === undefined) return;
    if (gw === cidr.ip) {
      out.push({
        pointer: gwPtr,
        severity: 'error',
        code: 'semantic.gateway-is-address',
        message: `gateway ${gwText} is the worker's own address`,
        value: gwText,
        hint: 'the gateway is the router of the subnet, e.g. its first host address',
      });
    } else if (!inSubnet(cidr, gw) && cidr.prefix < 32) {
      out.push({
        pointer: gwPtr,
        severity: 'error',
        code: 'semantic.gateway-outside-subnet',
        message: `gateway ${gwText} is outside the subnet ${formatIpv4(networkOf(cidr))}/${cidr.prefix} of ${net.ipv4.address}`,
        value: gwText,
        hint: `a gateway must be reachable directly: pick an address from ${formatIpv4(networkOf(cidr) + 1)} to ${formatIpv4(broadcastOf(cidr) - 1)}, or fix the prefix length`,
      });
    } else if (cidr.prefix <= 30 && (gw === networkOf(cidr) || gw === broadcastOf(cidr))) {
      out.push({
        pointer: gwPtr,
        severity: 'error',
        code: 'semantic.reserved-address',
        message: `gateway ${gwText} is the ${gw === networkOf(cidr) ? 'network' : 'broadcast'} address of its subnet`,
        value: gwText,
        hint: 'a gateway is a host address of the subnet, e.g. its first one',
      });
    }
  });
  return out;
}

function dnsFindings(doc: WorkerDocument, spec: WorkerSpec): Finding[] {
  if (spec.dns !== 'auto' || spec.networks.some((n) => n.ipv4 === 'dhcp')) return [];
  const explicit = doc.spec.dns !== undefined;
  return [
    {
      pointer: '/spec/dns',
      at: explicit ? '/spec/dns' : '/spec/networks',
      target: 'key',
      severity: 'error',
      code: 'semantic.dns-auto-without-dhcp',
      message: `dns is auto${explicit ? '' : ' (the default)'}, but no network uses DHCP to obtain DNS servers`,
      hint: 'set dns: {servers: [IP, IP]}, or use ipv4: dhcp on one network',
    },
  ];
}

function updatesFindings(spec: WorkerSpec): Finding[] {
  const out: Finding[] = [];
  const proxy = spec.updates.proxy;
  if (!proxy) return out;
  if (!spec.updates.enabled) {
    out.push({
      pointer: '/spec/updates/proxy',
      target: 'key',
      severity: 'warning',
      code: 'semantic.proxy-without-updates',
      message: 'updates.proxy is ignored because updates.enabled is false',
      hint: 'the proxy is only used to fetch updates; remove it or set updates.enabled: true',
    });
  }
  if (proxy.passwordFile !== undefined && proxy.username === undefined) {
    out.push({
      pointer: '/spec/updates/proxy/passwordFile',
      target: 'key',
      severity: 'error',
      code: 'semantic.password-without-username',
      message: 'updates.proxy has a passwordFile but no username',
      hint: 'add updates.proxy.username, or remove passwordFile',
    });
  }
  return out;
}

function sizingFindings(doc: WorkerDocument, spec: WorkerSpec): Finding[] {
  const out: Finding[] = [];
  const want = defaultSizeFor(spec.maxConcurrentTasks);
  for (const field of ['cpus', 'memoryGiB'] as const) {
    if (doc.spec[field] === undefined || spec[field] >= want) continue;
    out.push({
      pointer: `/spec/${field}`,
      severity: 'warning',
      code: 'semantic.undersized',
      message: `spec.${field} ${spec[field]} is below the ${want} recommended for ${spec.maxConcurrentTasks} concurrent tasks`,
      value: spec[field],
      hint: `the Veeam sizing rule is 6 + (maxConcurrentTasks - 4); raise ${field} or lower maxConcurrentTasks`,
    });
  }
  return out;
}

function templateFindings(spec: WorkerSpec): Finding[] {
  if (typeof spec.template !== 'string' || !/^\d+$/.test(spec.template)) return [];
  return [
    {
      pointer: '/spec/template',
      severity: 'warning',
      code: 'semantic.template-quoted-vmid',
      message: `template '${spec.template}' is a quoted number, so it is taken as a template name`,
      value: spec.template,
      hint: `write template: ${spec.template} without quotes to mean vmid ${spec.template}`,
    },
  ];
}

/** One worker's identifying values, for the checks across workers. */
export interface WorkerIndexEntry {
  name: string;
  /** Static addresses (without prefix) with their pointer. */
  addresses: { ip: string; pointer: string }[];
}

/** A finding of a check across workers, tied to one entry. */
export interface CrossFinding {
  entry: number;
  finding: Finding;
}

/** Display location ("file:line:col") of a pointer in an entry; called only when a finding needs it. */
export type WhereFn = (entry: number, pointer: string) => string;

/** Duplicate names and duplicate static addresses across all loaded workers (each occurrence reported). */
export function crossWorkerFindings(entries: WorkerIndexEntry[], where: WhereFn): CrossFinding[] {
  const out: CrossFinding[] = [];
  const byName = new Map<string, number[]>();
  entries.forEach((e, i) => {
    const list = byName.get(e.name);
    if (list) list.push(i);
    else byName.set(e.name, [i]);
  });
  for (const [name, idx] of byName) {
    if (idx.length < 2) continue;
    for (const i of idx) {
      const others = idx.filter((j) => j !== i).map((j) => where(j, '/metadata/name'));
      out.push({
        entry: i,
        finding: {
          pointer: '/metadata/name',
          severity: 'error',
          code: 'semantic.duplicate-name',
          message: `worker name '${name}' is also used at ${others.join(', ')}`,
          value: name,
          hint: 'worker names are unique across all manifests: rename one of them',
        },
      });
    }
  }
  const byIp = new Map<string, { entry: number; pointer: string }[]>();
  entries.forEach((e, i) => {
    for (const a of e.addresses) {
      const list = byIp.get(a.ip);
      if (list) list.push({ entry: i, pointer: a.pointer });
      else byIp.set(a.ip, [{ entry: i, pointer: a.pointer }]);
    }
  });
  for (const [ip, uses] of byIp) {
    if (uses.length < 2) continue;
    for (const u of uses) {
      const others = uses.filter((x) => x !== u).map((x) => where(x.entry, x.pointer));
      out.push({
        entry: u.entry,
        finding: {
          pointer: u.pointer,
          severity: 'error',
          code: 'semantic.duplicate-address',
          message: `static address ${ip} is also used at ${others.join(', ')}`,
          value: ip,
          hint: 'each static address belongs to one interface of one worker',
        },
      });
    }
  }
  return out;
}
