/**
 * The narrow interface workerctl uses to speak Proxmox VE. Domain types in, domain types out; the
 * HTTP implementation (http-client.ts) is the only place that knows the wire. Errors are the typed
 * ProxmoxError subclasses of errors.ts.
 */
import type {
  CloneOptions,
  ClusterNode,
  DeleteOptions,
  GuestExecStatus,
  GuestInterface,
  MigrateOptions,
  MoveDiskOptions,
  PveNode,
  PveStorage,
  PveVersion,
  ShutdownOptions,
  TaskLog,
  TaskRef,
  TaskListFilter,
  TaskStatus,
  TaskSummary,
  VmConfig,
  VmConfigChange,
  VmPending,
  VmResource,
  VmStatus,
  WaitOptions,
} from './types.js';

export interface ProxmoxClient {
  version(): Promise<PveVersion>;
  nodes(): Promise<PveNode[]>;
  storages(node: string, opts?: { content?: string; enabled?: boolean }): Promise<PveStorage[]>;
  /** One cluster-wide listing of all guests. */
  vmResources(): Promise<VmResource[]>;
  /** The cluster's nodes with their addresses (GET /cluster/status). */
  clusterNodes(): Promise<ClusterNode[]>;
  /** The lowest free vmid, or asserts that `vmid` is free (AlreadyExistsError otherwise). */
  nextId(vmid?: number): Promise<number>;

  getConfig(node: string, vmid: number, opts?: { current?: boolean }): Promise<VmConfig>;
  /**
   * GET …/pending: applied and pending value of every key. The only read that tells, whatever the
   * power state, whether written changes still wait for a restart (GET config shows them as set).
   */
  pending(node: string, vmid: number): Promise<VmPending>;
  /** Synchronous PUT config. */
  updateConfig(node: string, vmid: number, change: VmConfigChange): Promise<void>;
  /** Asynchronous POST config (returns the qmconfig task). */
  updateConfigAsync(node: string, vmid: number, change: VmConfigChange): Promise<TaskRef>;
  /** Grows a disk, e.g. size '+10G' or '100G'. */
  resizeDisk(node: string, vmid: number, disk: string, size: string): Promise<TaskRef>;

  clone(node: string, vmid: number, opts: CloneOptions): Promise<TaskRef>;
  /** Moves a disk to another storage of the VM's node (a qmmove task). */
  moveDisk(node: string, vmid: number, opts: MoveDiskOptions): Promise<TaskRef>;
  /** Migrates the VM to another node (a qmigrate task; offline unless opts.online). */
  migrate(node: string, vmid: number, opts: MigrateOptions): Promise<TaskRef>;
  create(node: string, vmid: number, config: Record<string, string | number | boolean>): Promise<TaskRef>;
  status(node: string, vmid: number): Promise<VmStatus>;
  start(node: string, vmid: number): Promise<TaskRef>;
  shutdown(node: string, vmid: number, opts?: ShutdownOptions): Promise<TaskRef>;
  stop(node: string, vmid: number): Promise<TaskRef>;
  reboot(node: string, vmid: number): Promise<TaskRef>;
  deleteVm(node: string, vmid: number, opts?: DeleteOptions): Promise<TaskRef>;

  agentPing(node: string, vmid: number): Promise<void>;
  agentNetworkInterfaces(node: string, vmid: number): Promise<GuestInterface[]>;
  agentExec(node: string, vmid: number, command: string[], inputData?: string): Promise<number>;
  agentExecStatus(node: string, vmid: number, pid: number): Promise<GuestExecStatus>;

  taskStatus(task: TaskRef): Promise<TaskStatus>;
  /** A node's task list (GET /nodes/{node}/tasks), newest first within each source. */
  tasks(node: string, filter?: TaskListFilter): Promise<TaskSummary[]>;
  taskLog(task: TaskRef, opts?: { start?: number; limit?: number }): Promise<TaskLog>;
  /** Polls with backoff until the task stops; TaskFailedError unless it succeeded. */
  waitForTask(task: TaskRef, opts?: WaitOptions): Promise<TaskStatus>;
}
