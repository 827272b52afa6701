/**
 * The HTTP implementation of ProxmoxClient on got 14. Each method only builds its path and
 * parameters (checked against the PVE 9.1 schema) on top of the one request() of transport.ts.
 */
import { systemClock, type Clock } from '../clock.js';
import type { ProxmoxClient } from './client.js';
import * as codec from './codec.js';
import { seg, type Params } from './form.js';
import type { NodeBudget } from './node-budget.js';
import { DEFAULT_TASK_POLL, type ProxmoxClientOptions, type TaskPollOptions } from './options.js';
import { NodeTaskWatch } from './task-watch.js';
import { waitForTask } from './tasks.js';
import { Transport, type RequestSpec } from './transport.js';
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
import { taskRef } from './upid.js';

function vmPath(node: string, vmid: number, rest = ''): string {
  return `/nodes/${seg(node)}/qemu/${seg(vmid)}${rest}`;
}

function taskPath(task: TaskRef, rest: string): string {
  return `/nodes/${seg(task.node)}/tasks/${seg(task.upid)}${rest}`;
}

/** A ProxmoxClient that talks HTTP(S) to a PVE node (or the simulator). */
export class HttpProxmoxClient implements ProxmoxClient {
  readonly #t: Transport;
  readonly #clock: Clock;
  readonly #poll: TaskPollOptions;
  readonly #watch: NodeTaskWatch;

  constructor(opts: ProxmoxClientOptions) {
    this.#t = new Transport(opts);
    this.#clock = opts.clock ?? systemClock;
    this.#poll = { ...DEFAULT_TASK_POLL, ...opts.taskPoll };
    this.#watch = new NodeTaskWatch({
      // limit: node_tasks returns 50 by default; `since` keeps the list to the waited tasks' time,
      // and a task missing from a cut list only costs its status read (task-watch.ts).
      list: (node, since) => this.tasks(node, { source: 'all', since, limit: 500 }),
      status: (t) => this.taskStatus(t),
      log: (t, o) => this.taskLog(t, o),
      clock: this.#clock,
      maxMs: this.#poll.nodeMaxMs,
      timeScale: opts.timeScale ?? 1,
    });
  }

  /** The API base URL, e.g. https://pve1:8006/api2/json. */
  get baseUrl(): string {
    return this.#t.baseUrl.href.replace(/\/$/, '');
  }

  /** The per-node budget of concurrent pvedaemon calls this client keeps (node-budget.ts). */
  get budget(): NodeBudget {
    return this.#t.budget;
  }

  /** Printable: URL, auth identity (no secret) and TLS mode. */
  get describe(): string {
    return `${this.baseUrl} (${this.#t.auth.describe}, ${this.#t.tlsDescription})`;
  }

  /** Frees keep-alive sockets; the client must not be used afterwards. */
  close(): void {
    this.#t.close();
  }

  async #data(spec: RequestSpec): Promise<unknown> {
    return (await this.#t.request(spec)).data;
  }

  async #task(
    operation: string,
    method: 'POST' | 'PUT' | 'DELETE',
    node: string,
    path: string,
    params?: Params,
  ) {
    const data = await this.#data({ operation, method, path, params });
    if (typeof data !== 'string' || !data.startsWith('UPID:')) {
      throw codecShape(operation, data);
    }
    return taskRef(data, node);
  }

  async version(): Promise<PveVersion> {
    return codec.toVersion(await this.#data({ operation: 'version', method: 'GET', path: '/version' }));
  }

  async nodes(): Promise<PveNode[]> {
    return codec.toNodes(await this.#data({ operation: 'nodes', method: 'GET', path: '/nodes' }));
  }

  async storages(node: string, opts: { content?: string; enabled?: boolean } = {}): Promise<PveStorage[]> {
    const params: Params = { content: opts.content, enabled: opts.enabled };
    return codec.toStorages(
      await this.#data({ operation: 'storages', method: 'GET', path: `/nodes/${seg(node)}/storage`, params }),
    );
  }

  async vmResources(): Promise<VmResource[]> {
    return codec.toVmResources(
      await this.#data({
        operation: 'vmResources',
        method: 'GET',
        path: '/cluster/resources',
        params: { type: 'vm' },
      }),
    );
  }

  async clusterNodes(): Promise<ClusterNode[]> {
    return codec.toClusterNodes(
      await this.#data({ operation: 'clusterNodes', method: 'GET', path: '/cluster/status' }),
    );
  }

  async nextId(vmid?: number): Promise<number> {
    // 400 errors.vmid "VM X already exists" maps to AlreadyExistsError in error-mapping.ts.
    return codec.toVmid(
      await this.#data({ operation: 'nextId', method: 'GET', path: '/cluster/nextid', params: { vmid } }),
    );
  }

  async getConfig(node: string, vmid: number, opts: { current?: boolean } = {}): Promise<VmConfig> {
    const params: Params = { current: opts.current ? true : undefined };
    return codec.toVmConfig(
      await this.#data({
        operation: 'getConfig',
        method: 'GET',
        path: vmPath(node, vmid, '/config'),
        params,
      }),
    );
  }

  async pending(node: string, vmid: number): Promise<VmPending> {
    return codec.toVmPending(
      await this.#data({ operation: 'pending', method: 'GET', path: vmPath(node, vmid, '/pending') }),
    );
  }

  async updateConfig(node: string, vmid: number, change: VmConfigChange): Promise<void> {
    await this.#data({
      operation: 'updateConfig',
      method: 'PUT',
      path: vmPath(node, vmid, '/config'),
      params: codec.fromConfigChange(change),
      // The flock timeout is refused before anything changed: safe to send again.
      retry: 'lock-retry',
    });
  }

  async updateConfigAsync(node: string, vmid: number, change: VmConfigChange): Promise<TaskRef> {
    return this.#task(
      'updateConfigAsync',
      'POST',
      node,
      vmPath(node, vmid, '/config'),
      codec.fromConfigChange(change),
    );
  }

  async resizeDisk(node: string, vmid: number, disk: string, size: string): Promise<TaskRef> {
    return this.#task('resizeDisk', 'PUT', node, vmPath(node, vmid, '/resize'), { disk, size });
  }

  async clone(node: string, vmid: number, opts: CloneOptions): Promise<TaskRef> {
    const params: Params = {
      newid: opts.newid,
      name: opts.name,
      description: opts.description,
      full: opts.full,
      storage: opts.storage,
      format: opts.format,
      target: opts.target,
      pool: opts.pool,
    };
    return this.#task('clone', 'POST', node, vmPath(node, vmid, '/clone'), params);
  }

  async moveDisk(node: string, vmid: number, opts: MoveDiskOptions): Promise<TaskRef> {
    const params: Params = {
      disk: opts.disk,
      storage: opts.storage,
      delete: opts.delete ? true : undefined,
      digest: opts.digest,
    };
    return this.#task('moveDisk', 'POST', node, vmPath(node, vmid, '/move_disk'), params);
  }

  async migrate(node: string, vmid: number, opts: MigrateOptions): Promise<TaskRef> {
    const params: Params = {
      target: opts.target,
      targetstorage: opts.targetstorage,
      online: opts.online ? true : undefined,
    };
    return this.#task('migrate', 'POST', node, vmPath(node, vmid, '/migrate'), params);
  }

  async create(
    node: string,
    vmid: number,
    config: Record<string, string | number | boolean>,
  ): Promise<TaskRef> {
    return this.#task('create', 'POST', node, `/nodes/${seg(node)}/qemu`, { vmid, ...config });
  }

  async status(node: string, vmid: number): Promise<VmStatus> {
    return codec.toVmStatus(
      await this.#data({ operation: 'status', method: 'GET', path: vmPath(node, vmid, '/status/current') }),
      vmid,
    );
  }

  async start(node: string, vmid: number): Promise<TaskRef> {
    return this.#task('start', 'POST', node, vmPath(node, vmid, '/status/start'));
  }

  async shutdown(node: string, vmid: number, opts: ShutdownOptions = {}): Promise<TaskRef> {
    const params: Params = { timeout: opts.timeout, forceStop: opts.forceStop };
    return this.#task('shutdown', 'POST', node, vmPath(node, vmid, '/status/shutdown'), params);
  }

  async stop(node: string, vmid: number): Promise<TaskRef> {
    return this.#task('stop', 'POST', node, vmPath(node, vmid, '/status/stop'));
  }

  async reboot(node: string, vmid: number): Promise<TaskRef> {
    return this.#task('reboot', 'POST', node, vmPath(node, vmid, '/status/reboot'));
  }

  async deleteVm(node: string, vmid: number, opts: DeleteOptions = {}): Promise<TaskRef> {
    // DELETE parameters travel in the query (a DELETE body is a 501).
    const params: Params = {
      purge: opts.purge ? true : undefined,
      'destroy-unreferenced-disks': opts.destroyUnreferencedDisks ? true : undefined,
      skiplock: opts.skiplock ? true : undefined,
    };
    return this.#task('deleteVm', 'DELETE', node, vmPath(node, vmid), params);
  }

  async agentPing(node: string, vmid: number): Promise<void> {
    await this.#data({
      operation: 'agentPing',
      method: 'POST',
      path: vmPath(node, vmid, '/agent/ping'),
      agentCall: true,
    });
  }

  async agentNetworkInterfaces(node: string, vmid: number): Promise<GuestInterface[]> {
    return codec.toGuestInterfaces(
      await this.#data({
        operation: 'agentNetworkInterfaces',
        method: 'GET',
        path: vmPath(node, vmid, '/agent/network-get-interfaces'),
        agentCall: true,
      }),
    );
  }

  async agentExec(node: string, vmid: number, command: string[], inputData?: string): Promise<number> {
    return codec.toExecPid(
      await this.#data({
        operation: 'agentExec',
        method: 'POST',
        path: vmPath(node, vmid, '/agent/exec'),
        // An array parameter: one repeated `command=` field per element.
        params: { command, 'input-data': inputData },
        agentCall: true,
      }),
    );
  }

  async agentExecStatus(node: string, vmid: number, pid: number): Promise<GuestExecStatus> {
    return codec.toExecStatus(
      await this.#data({
        operation: 'agentExecStatus',
        method: 'GET',
        path: vmPath(node, vmid, '/agent/exec-status'),
        params: { pid },
        agentCall: true,
      }),
    );
  }

  async taskStatus(task: TaskRef, signal?: AbortSignal): Promise<TaskStatus> {
    return codec.toTaskStatus(
      await this.#data({ operation: 'taskStatus', method: 'GET', path: taskPath(task, '/status'), signal }),
      task.upid,
      task.node,
    );
  }

  async tasks(node: string, filter: TaskListFilter = {}): Promise<TaskSummary[]> {
    const params: Params = {
      source: filter.source,
      typefilter: filter.type,
      vmid: filter.vmid,
      since: filter.since,
      limit: filter.limit,
    };
    return codec.toTaskList(
      await this.#data({ operation: 'tasks', method: 'GET', path: `/nodes/${seg(node)}/tasks`, params }),
      node,
    );
  }

  async taskLog(task: TaskRef, opts: { start?: number; limit?: number } = {}): Promise<TaskLog> {
    const env = await this.#t.request({
      operation: 'taskLog',
      method: 'GET',
      path: taskPath(task, '/log'),
      params: { start: opts.start, limit: opts.limit },
    });
    return codec.toTaskLog(env.data, env.total);
  }

  async waitForTask(task: TaskRef, opts: WaitOptions = {}): Promise<TaskStatus> {
    if (this.#poll.mode === 'node') return this.#watch.wait(task, opts);
    return waitForTask(
      {
        status: (t, signal) => this.taskStatus(t, signal),
        log: (t, o) => this.taskLog(t, o),
        clock: this.#clock,
        poll: this.#poll,
      },
      task,
      opts,
    );
  }
}

function codecShape(operation: string, data: unknown): Error {
  const got = data === null ? 'null' : typeof data;
  return new codec.UnexpectedAnswerError(`proxmox ${operation} returned no task id (got ${got})`);
}

/** Creates the HTTP client. Throws UsageError/ConfigError for a bad URL, token or TLS option. */
export function createProxmoxClient(opts: ProxmoxClientOptions): HttpProxmoxClient {
  return new HttpProxmoxClient(opts);
}
