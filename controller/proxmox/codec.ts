/**
 * PVE wire shapes <-> our domain types (controller/proxmox/types.ts). The mapping lives here and
 * nowhere else; the readers are lenient about PVE's mixed types.
 */
import { ProxmoxError } from '../errors.js';
import { decodeSshKeys, type Params } from './form.js';
import {
  asArray,
  asBool,
  asInt,
  asNumber,
  asRecord,
  asString,
  scalarToString,
  splitTags,
} from './lenient.js';
import type {
  ClusterNode,
  GuestExecStatus,
  GuestInterface,
  GuestIpAddress,
  PveNode,
  PveStorage,
  PveVersion,
  TaskLog,
  TaskStatus,
  TaskSummary,
  VmConfig,
  VmConfigChange,
  VmPending,
  VmPendingEntry,
  VmResource,
  VmStatus,
} from './types.js';

/** An answer that does not have the shape PVE documents. */
export class UnexpectedAnswerError extends ProxmoxError {}

function shapeError(what: string, value: unknown): ProxmoxError {
  const got = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return new UnexpectedAnswerError(`proxmox answer for ${what} has an unexpected shape (${got})`);
}

function record(what: string, v: unknown): Record<string, unknown> {
  const r = asRecord(v);
  if (!r) throw shapeError(what, v);
  return r;
}

function list(what: string, v: unknown): Record<string, unknown>[] {
  if (!Array.isArray(v)) throw shapeError(what, v);
  return v.map((x) => record(what, x));
}

export function toVersion(data: unknown): PveVersion {
  const r = record('version', data);
  const out: PveVersion = { version: asString(r.version) ?? '', release: asString(r.release) ?? '' };
  const repoid = asString(r.repoid);
  if (repoid) out.repoid = repoid;
  return out;
}

export function toNodes(data: unknown): PveNode[] {
  return list('nodes', data).map((r) => {
    const status = asString(r.status);
    const n: PveNode = {
      node: asString(r.node) ?? '',
      status: status === 'online' || status === 'offline' ? status : 'unknown',
    };
    const fp = asString(r.ssl_fingerprint);
    if (fp) n.sslFingerprint = fp;
    const maxcpu = asInt(r.maxcpu);
    if (maxcpu !== undefined) n.maxcpu = maxcpu;
    const maxmem = asNumber(r.maxmem);
    if (maxmem !== undefined) n.maxmem = maxmem;
    return n;
  });
}

export function toStorages(data: unknown): PveStorage[] {
  return list('storages', data).map((r) => {
    const s: PveStorage = {
      storage: asString(r.storage) ?? '',
      type: asString(r.type) ?? '',
      content: (asString(r.content) ?? '').split(/[,;\s]+/).filter(Boolean),
      shared: asBool(r.shared),
      active: asBool(r.active),
      enabled: asBool(r.enabled, true),
    };
    for (const k of ['total', 'used', 'avail'] as const) {
      const v = asNumber(r[k]);
      if (v !== undefined) s[k] = v;
    }
    return s;
  });
}

export function toVmResources(data: unknown): VmResource[] {
  const out: VmResource[] = [];
  for (const r of list('cluster resources', data)) {
    const type = asString(r.type);
    if (type !== 'qemu' && type !== 'lxc') continue;
    const vmid = asInt(r.vmid) ?? asInt(asString(r.id)?.split('/')[1]);
    if (vmid === undefined) continue;
    const v: VmResource = {
      vmid,
      node: asString(r.node) ?? '',
      type,
      status: asString(r.status) ?? 'unknown',
      template: asBool(r.template),
      tags: splitTags(r.tags),
    };
    const name = asString(r.name);
    if (name) v.name = name;
    const lock = asString(r.lock);
    if (lock) v.lock = lock;
    for (const k of ['maxcpu', 'maxmem', 'maxdisk', 'uptime'] as const) {
      const n = asNumber(r[k]);
      if (n !== undefined) v[k] = n;
    }
    out.push(v);
  }
  return out;
}

/** nextid answers a string (older servers) or a number. */
export function toVmid(data: unknown): number {
  const n = asInt(data);
  if (n === undefined) throw shapeError('nextid', data);
  return n;
}

/** Every value as a string; sshkeys decoded from PVE's urlencoded form; digest apart. */
export function toVmConfig(data: unknown): VmConfig {
  const r = record('config', data);
  const values: Record<string, string> = {};
  let digest = '';
  for (const [k, v] of Object.entries(r)) {
    if (k === 'digest') {
      digest = asString(v) ?? '';
      continue;
    }
    if (v === null || v === undefined) continue;
    const s = scalarToString(v);
    values[k] = k === 'sshkeys' ? decodeSshKeys(s) : s;
  }
  return { values, digest };
}

/** GET …/pending: values as strings (sshkeys decoded), `delete` 1 or 2 as true, the digest apart. */
export function toVmPending(data: unknown): VmPending {
  const entries: VmPendingEntry[] = [];
  let digest = '';
  const text = (key: string, v: unknown): string | undefined => {
    if (v === null || v === undefined) return undefined;
    const s = scalarToString(v);
    return key === 'sshkeys' ? decodeSshKeys(s) : s;
  };
  for (const r of list('pending', data)) {
    const key = asString(r.key);
    if (!key) continue;
    if (key === 'digest') {
      digest = asString(r.value) ?? '';
      continue;
    }
    const e: VmPendingEntry = { key };
    const value = text(key, r.value);
    if (value !== undefined) e.value = value;
    const pending = text(key, r.pending);
    if (pending !== undefined) e.pending = pending;
    if (asInt(r.delete)) e.delete = true;
    entries.push(e);
  }
  return { entries, digest };
}

/** A config change as PUT/POST config parameters (delete list joined with ','). */
export function fromConfigChange(change: VmConfigChange): Params {
  const params: Params = { ...change.set };
  if (change.delete?.length) params.delete = change.delete.join(',');
  if (change.digest) params.digest = change.digest;
  if (change.skiplock) params.skiplock = true;
  return params;
}

export function toVmStatus(data: unknown, vmid: number): VmStatus {
  const r = record('vm status', data);
  const s: VmStatus = {
    vmid: asInt(r.vmid) ?? vmid,
    status: asString(r.status) ?? 'unknown',
    agent: asBool(r.agent),
    uptime: asNumber(r.uptime) ?? 0,
    tags: splitTags(r.tags),
  };
  const qmp = asString(r.qmpstatus);
  if (qmp) s.qmpstatus = qmp;
  const name = asString(r.name);
  if (name) s.name = name;
  const lock = asString(r.lock);
  if (lock) s.lock = lock;
  return s;
}

const WARNINGS_RE = /^WARNINGS: (\d+)$/;

/** True for the exit statuses that mean success: OK and WARNINGS: n. */
export function isSuccessExit(exit: string | undefined): boolean {
  return exit === 'OK' || (exit !== undefined && WARNINGS_RE.test(exit));
}

export function toTaskStatus(data: unknown, upid: string, node: string): TaskStatus {
  const r = record('task status', data);
  const status = asString(r.status) === 'stopped' ? 'stopped' : 'running';
  const t: TaskStatus = {
    upid: asString(r.upid) ?? upid,
    node: asString(r.node) ?? node,
    type: asString(r.type) ?? '',
    id: asString(r.id) ?? '',
    user: asString(r.user) ?? '',
    status,
    startTime: asNumber(r.starttime) ?? 0,
  };
  return status === 'stopped' ? { ...t, ...exitFields(asString(r.exitstatus)) } : t;
}

/** What a stopped task's exit status says: OK and WARNINGS: n succeeded (upid_read_status). */
function exitFields(exit = 'unexpected status'): Pick<TaskStatus, 'exitStatus' | 'succeeded' | 'warnings'> {
  const w = WARNINGS_RE.exec(exit);
  return { exitStatus: exit, succeeded: isSuccessExit(exit), warnings: w ? Number(w[1]) : 0 };
}

/**
 * The status of a task a node's task list shows ended: the index line's status is the exit status
 * (pve-common src/PVE/RESTEnvironment.pm active_workers archives PVE::UPID::read_status, as
 * read_task_status answers it).
 */
export function stoppedStatus(t: TaskSummary): TaskStatus {
  return {
    upid: t.upid,
    node: t.node,
    type: t.type,
    id: t.id,
    user: t.user,
    status: 'stopped',
    startTime: t.startTime,
    ...exitFields(t.exitStatus),
  };
}

export function toTaskLog(data: unknown, total: number | undefined): TaskLog {
  const lines = list('task log', data)
    .map((r) => ({ n: asInt(r.n) ?? 0, t: asString(r.t) ?? '' }))
    .sort((a, b) => a.n - b.n)
    .map((l) => l.t);
  return { lines, total: total ?? lines.length };
}

/** The agent wraps results in {result: ...}. */
export function agentResult(data: unknown): unknown {
  const r = asRecord(data);
  return r && 'result' in r ? r.result : data;
}

export function toGuestInterfaces(data: unknown): GuestInterface[] {
  return asArray(agentResult(data)).flatMap((x) => {
    const r = asRecord(x);
    if (!r) return [];
    const ifc: GuestInterface = {
      name: asString(r.name) ?? '',
      ipAddresses: asArray(r['ip-addresses']).flatMap((a): GuestIpAddress[] => {
        const ar = asRecord(a);
        const address = asString(ar?.['ip-address']);
        if (!ar || !address) return [];
        const type = asString(ar['ip-address-type']) === 'ipv6' ? 'ipv6' : 'ipv4';
        return [{ address, prefix: asInt(ar.prefix) ?? (type === 'ipv6' ? 128 : 32), type }];
      }),
    };
    const hw = asString(r['hardware-address']);
    if (hw) ifc.hardwareAddress = hw;
    return [ifc];
  });
}

export function toExecPid(data: unknown): number {
  const r = record('agent exec', data);
  const pid = asInt(r.pid) ?? asInt(asRecord(r.result)?.pid);
  if (pid === undefined) throw shapeError('agent exec pid', r.pid);
  return pid;
}

export function toExecStatus(data: unknown): GuestExecStatus {
  const r = asRecord(agentResult(data)) ?? record('agent exec-status', data);
  const s: GuestExecStatus = { exited: asBool(r.exited) };
  const code = asInt(r.exitcode);
  if (code !== undefined) s.exitCode = code;
  const sig = asInt(r.signal);
  if (sig !== undefined) s.signal = sig;
  const out = asString(r['out-data']);
  if (out !== undefined) s.outData = out;
  const err = asString(r['err-data']);
  if (err !== undefined) s.errData = err;
  return s;
}

/**
 * GET /nodes/{node}/tasks: finished entries carry `status` (the exit status) and endtime; running
 * ones (source active/all) say status RUNNING or have none (pve-manager PVE/API2/Tasks.pm node_tasks).
 */
export function toTaskList(data: unknown, node: string): TaskSummary[] {
  const out: TaskSummary[] = [];
  for (const r of list('task list', data)) {
    const upid = asString(r.upid);
    if (!upid) continue;
    const status = asString(r.status);
    const running = status === undefined || status === 'RUNNING' || asNumber(r.endtime) === undefined;
    const t: TaskSummary = {
      upid,
      node: asString(r.node) ?? node,
      type: asString(r.type) ?? '',
      id: asString(r.id) ?? '',
      user: asString(r.user) ?? '',
      startTime: asNumber(r.starttime) ?? 0,
      running,
    };
    if (!running && status) t.exitStatus = status;
    out.push(t);
  }
  return out;
}

/** The `node` entries of GET /cluster/status (a standalone node has one, nodeid 0). */
export function toClusterNodes(data: unknown): ClusterNode[] {
  const out: ClusterNode[] = [];
  for (const r of list('cluster status', data)) {
    if (asString(r.type) !== 'node') continue;
    const name = asString(r.name);
    if (!name) continue;
    const n: ClusterNode = { name, online: asBool(r.online), local: asBool(r.local) };
    const ip = asString(r.ip);
    if (ip) n.ip = ip;
    out.push(n);
  }
  return out;
}
