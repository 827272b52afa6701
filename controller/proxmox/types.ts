/** Proxmox VE objects in our own shapes: parsed leniently from PVE's mixed wire types. */

export interface PveVersion {
  version: string;
  release: string;
  repoid?: string;
}

export interface PveNode {
  node: string;
  status: 'online' | 'offline' | 'unknown';
  /** SHA-256, colon-separated hex bytes. */
  sslFingerprint?: string;
  maxcpu?: number;
  maxmem?: number;
}

export interface PveStorage {
  storage: string;
  type: string;
  content: string[];
  shared: boolean;
  active: boolean;
  enabled: boolean;
  total?: number;
  used?: number;
  avail?: number;
}

/** One entry of GET /cluster/resources?type=vm. name and status may lag: pve-manager PVE/API2/Cluster.pm resources reports what pvestatd last broadcast. */
export interface VmResource {
  vmid: number;
  node: string;
  type: 'qemu' | 'lxc';
  /** running | stopped | unknown (fresh VM) | ... */
  status: string;
  name?: string;
  template: boolean;
  /** Normalised tag list (lower-case, sorted). */
  tags: string[];
  lock?: string;
  maxcpu?: number;
  maxmem?: number;
  maxdisk?: number;
  uptime?: number;
}

/** A VM config as read: every value as a string (numbers too), plus the digest. */
export interface VmConfig {
  values: Record<string, string>;
  digest: string;
}

/** One key of GET …/pending: its applied value, its pending value, or a pending delete. */
export interface VmPendingEntry {
  key: string;
  /** The value in effect (unset when the key is only pending). */
  value?: string;
  /** The value written but not applied yet (a running VM applies it at its next boot). */
  pending?: string;
  /** The key is to be deleted at the next boot. */
  delete?: boolean;
}

/** GET …/pending: every key with its applied and pending state, plus the config digest. */
export interface VmPending {
  entries: VmPendingEntry[];
  digest: string;
}

/** Changes for a config write: keys to set and keys to delete. */
export interface VmConfigChange {
  set: Record<string, string | number | boolean>;
  delete?: string[];
  /** Refuse the write if the config changed since it was read. */
  digest?: string;
  /** Ignore the config's `lock` (root@pam only: qemu-server PVE/API2/Qemu.pm update_vm_api). */
  skiplock?: boolean;
}

export interface VmStatus {
  vmid: number;
  status: 'running' | 'stopped' | string;
  qmpstatus?: string;
  name?: string;
  lock?: string;
  /** The agent is configured (not: is answering). */
  agent: boolean;
  uptime: number;
  tags: string[];
}

/** A started PVE task. */
export interface TaskRef {
  upid: string;
  node: string;
}

export interface TaskStatus {
  upid: string;
  node: string;
  type: string;
  id: string;
  user: string;
  status: 'running' | 'stopped';
  /** Present once stopped: OK, WARNINGS: n, or the error text. */
  exitStatus?: string;
  /** stopped with OK or WARNINGS: n. */
  succeeded?: boolean;
  warnings?: number;
  startTime: number;
}

export interface TaskLog {
  lines: string[];
  total: number;
}

export interface GuestIpAddress {
  address: string;
  prefix: number;
  type: 'ipv4' | 'ipv6';
}

export interface GuestInterface {
  name: string;
  hardwareAddress?: string;
  ipAddresses: GuestIpAddress[];
}

export interface GuestExecStatus {
  exited: boolean;
  exitCode?: number;
  signal?: number;
  outData?: string;
  errData?: string;
}

export interface CloneOptions {
  newid: number;
  name?: string;
  description?: string;
  full?: boolean;
  storage?: string;
  format?: 'raw' | 'qcow2' | 'vmdk';
  target?: string;
  pool?: string;
}

export interface ShutdownOptions {
  /** Seconds. */
  timeout?: number;
  forceStop?: boolean;
}

export interface DeleteOptions {
  purge?: boolean;
  destroyUnreferencedDisks?: boolean;
  /** Ignore the config's `lock` (root@pam only: qemu-server PVE/API2/Qemu.pm destroy_vm). */
  skiplock?: boolean;
}

/** POST …/move_disk to another storage of the same node (qemu-server PVE/API2/Qemu.pm move_vm_disk). */
export interface MoveDiskOptions {
  disk: string;
  storage: string;
  /** Delete the source volume after a successful copy (else it stays as unusedN). */
  delete?: boolean;
  digest?: string;
}

/** POST …/migrate (qemu-server PVE/API2/Qemu.pm migrate_vm); offline unless `online`. */
export interface MigrateOptions {
  target: string;
  /** Where the local disks go on the target: one storage id, or `src:dst,...`. */
  targetstorage?: string;
  online?: boolean;
}

/** Filters of GET /nodes/{node}/tasks (pve-manager PVE/API2/Tasks.pm node_tasks). */
export interface TaskListFilter {
  /** archive (finished, default), active (running) or all. */
  source?: 'archive' | 'active' | 'all';
  /** Task type, e.g. qmclone. */
  type?: string;
  /** The task's id (a clone's is the SOURCE vmid). */
  vmid?: number;
  /** Started at or after (epoch seconds). */
  since?: number;
  limit?: number;
}

/** One entry of a node's task list. */
export interface TaskSummary {
  upid: string;
  node: string;
  type: string;
  id: string;
  user: string;
  startTime: number;
  /** Running, or stopped with `exitStatus`. */
  running: boolean;
  exitStatus?: string;
}

/** One `node` entry of GET /cluster/status (pve-manager PVE/API2/Cluster.pm get_status). */
export interface ClusterNode {
  name: string;
  /** The node's cluster (corosync) address. */
  ip?: string;
  online: boolean;
  /** The node this API connection talks to. */
  local: boolean;
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** Give up waiting (the task keeps running) after this long. */
  timeoutMs?: number;
}
