/**
 * The simulator core: world state, tasks, flocks, faults, guest commands, auth, call log. The HTTP layer
 * (http/server.ts) and the /_sim control API drive it; tests and benchmarks can use it in process.
 */
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { Auth } from './auth.js';
import { DaemonPool } from './daemon-pool.js';
import { Faults } from './faults.js';
import { GuestCommands } from './guest.js';
import type { GuestCommand } from './guest.js';
import { Latency, sleep } from './latency.js';
import type { LatencyName } from './latency.js';
import { FlockTable, LockTimeoutError, vmLockPath } from './locks.js';
import type { Release } from './locks.js';
import { createRng } from './rng.js';
import type { Rng } from './rng.js';
import { TaskManager } from './tasks.js';
import type { Task, TaskContext } from './tasks.js';
import {
  bootGuest,
  configChanges,
  digestOf,
  diskTotals,
  haltGuest,
  pendingView,
  writeConfig,
} from './vm-ops.js';
import { World } from './world/state.js';
import type { VmState } from './world/state.js';
import type { Duration, FaultSpec, GuestCommandResult, WorldConfig } from './world/types.js';
import { parseProps } from './config/values.js';

/** One API call as the call log keeps it. */
export interface CallRecord {
  seq: number;
  time: string;
  method: string;
  path: string;
  /** Route template, e.g. 'GET /nodes/{node}/qemu/{vmid}/config'. */
  endpoint: string;
  params: Record<string, unknown>;
  status: number;
  error?: string;
  durationMs: number;
  /** Arrival and answer, epoch ms (fractional): the call log's timeline per node. */
  startMs: number;
  endMs: number;
  /** The node in the path (the one whose pveproxy or pvedaemon serves it); unset for cluster-wide calls. */
  node?: string;
  /** Requests of the same node (or of the cluster-wide calls) in flight when this one arrived, itself included. */
  inFlight: number;
  /** Parameter errors when the PVE schema check refused the request. */
  schemaViolations?: Record<string, string>;
  user?: string;
}

/** A VM as the in-process API shows it. */
export interface VmView {
  vmid: number;
  node: string;
  name?: string;
  status: 'running' | 'stopped';
  template: boolean;
  lock?: string;
  tags?: string;
  description?: string;
  /** Config in effect now. */
  config: Record<string, string>;
  /** Pending values and deletions (running VMs). */
  pending: Record<string, string>;
  pendingDelete: string[];
  disks: Array<{ key: string; volid: string; storage: string; sizeGiB: number; usedGiB: number }>;
  pool?: string;
  haManaged: boolean;
  agentRunning: boolean;
  digest: string;
}

/** Settings of a simulator core. */
export interface SimulatorCoreOptions {
  world: WorldConfig;
  latency: LatencyName;
  timeScale: number;
  seed: number;
  resourcesLag: boolean;
  /** Models no Proxmox source grounds (labelled ASSUMPTION in the code) are on; see README `simulator`. */
  assumptions: boolean;
  authFailureDelayMs: number;
  token?: string;
  users?: Record<string, string>;
  logger?: Logger;
}

const MAX_CALLS = 20000;

/** The in-process simulator. */
export class Simulator {
  readonly world: World;
  readonly latency: Latency;
  readonly rng: Rng;
  readonly faults: Faults;
  readonly tasks: TaskManager;
  readonly flocks = new FlockTable();
  /** The node the API client talks to (GET /cluster/status `local`, protected calls without a node). */
  readonly localNode: string;
  /** Full clones copying per storage right now (they share its bandwidth), keyed by cloneStorageKey. */
  readonly activeClones = new Map<string, number>();
  readonly auth: Auth;
  readonly guestCommands: GuestCommands;
  readonly log: Logger;
  resourcesLag: boolean;
  /** Whether the models labelled ASSUMPTION (no Proxmox source grounds them) are on. */
  assumptions: boolean;
  authFailureDelayMs: number;
  /** Real ms when the simulator started (pvestatd broadcast epoch). */
  readonly epoch = Date.now();
  /** TLS fingerprint of the API certificate (GET /nodes ssl_fingerprint). */
  fingerprint: string | undefined;
  private readonly agentBoot: Duration | undefined;
  private readonly calls: CallRecord[] = [];
  private readonly violations: CallRecord[] = [];
  private readonly counters = new Map<string, number>();
  private seq = 0;
  private readonly taskSlow = new WeakMap<Task, number>();
  private readonly daemons = new Map<string, DaemonPool>();
  private readonly daemonWorkers: number;
  private readonly proxyTimeoutMs: number;

  constructor(opts: SimulatorCoreOptions) {
    this.rng = createRng(opts.seed);
    this.log = opts.logger ?? silentLogger();
    this.latency = new Latency(opts.latency, opts.timeScale, createRng(opts.seed + 1), opts.world.latencies);
    this.world = new World(opts.world, createRng(opts.seed + 2));
    this.faults = new Faults(createRng(opts.seed + 3), opts.world.faults);
    this.guestCommands = new GuestCommands(opts.world.guestCommands);
    this.auth = new Auth(opts.token, opts.users);
    this.resourcesLag = opts.resourcesLag;
    this.assumptions = opts.assumptions;
    this.authFailureDelayMs = opts.authFailureDelayMs;
    this.agentBoot = opts.world.agentBootMs;
    this.localNode = opts.world.nodes[0].name;
    // pve-manager PVE/Service/pvedaemon.pm: max_workers => 3 on every node; pve-http-server
    // PVE/APIServer/AnyEvent.pm proxy_request: the proxied call times out after 30 s (596)
    this.daemonWorkers = opts.world.daemon?.workers ?? 3;
    this.proxyTimeoutMs = this.latency.secondsToReal(opts.world.daemon?.proxyTimeoutSeconds ?? 30);
    this.tasks = new TaskManager(this.latency, (t) => this.taskSlow.get(t) ?? 1);
    const now = Date.now();
    for (const vm of this.world.vms.values()) {
      vm.createdAt = now;
      vm.history = [];
      this.world.touch(vm, this.epoch - 1);
      if (vm.status === 'running') vm.startedAt = now;
    }
  }

  // ---- helpers for handlers ----

  /** The pvedaemon worker pool of `node` (every node runs its own pvedaemon). */
  daemon(node: string): DaemonPool {
    let pool = this.daemons.get(node);
    if (!pool) {
      pool = new DaemonPool(this.daemonWorkers, this.proxyTimeoutMs);
      this.daemons.set(node, pool);
    }
    return pool;
  }

  /** The flock wait of lock_config in real ms. */
  lockWaitMs(seconds?: number): number {
    return this.latency.secondsToReal(seconds ?? this.latency.profile.lockWaitSeconds);
  }

  /** Takes the VM's flock; a matching lockTimeout fault makes it time out after the usual wait. */
  async vmLock(
    vmid: number,
    mode: 'shared' | 'exclusive',
    site: { method?: string; path?: string; taskType?: string },
    waitSeconds?: number,
  ): Promise<Release> {
    const wait = this.lockWaitMs(waitSeconds);
    if (this.faults.take(['lockTimeout'], { ...site, vmid })) {
      await sleep(wait);
      throw new LockTimeoutError(vmLockPath(vmid));
    }
    return this.flocks.acquire(vmLockPath(vmid), mode, wait);
  }

  /** Starts a task with fault handling (failTask, slowTask). */
  spawnTask(
    opts: { node: string; type: string; id: string; user: string; vmid?: number },
    body: (ctx: TaskContext) => Promise<void>,
  ): Task {
    const site = { taskType: opts.type, vmid: opts.vmid };
    const failing = this.faults.take(['failTask'], site);
    const slow = this.faults.take(['slowTask'], site);
    const warning = this.faults.take(['warnTask'], site);
    const task = this.tasks.spawn(opts, async (ctx) => {
      if (failing) {
        await ctx.sleep(this.latency.draw('stop'));
        throw new Error(failing.message ?? `simulated failure of ${opts.type}`);
      }
      await body(ctx);
      if (warning) ctx.warn(warning.message ?? 'simulated warning');
    });
    if (slow) this.taskSlow.set(task, slow.factor ?? 10);
    this.log.debug('task started', { upid: task.upid, type: opts.type });
    return task;
  }

  /**
   * Real ms until the guest agent answers after a boot. ASSUMPTION: no Proxmox source says how long a
   * guest takes to start its agent (figures in README `simulator`); 0 when assumptions are off.
   */
  agentBootRealMs(vm: VmState): number {
    if (!this.assumptions) return 0;
    const first = vm.guest.boots === 0 && vm.config.ide2 !== undefined;
    const sim =
      this.agentBoot !== undefined
        ? this.latency.draw(this.agentBoot)
        : this.latency.draw(first ? 'agentBootFirst' : 'agentBoot');
    return this.latency.toReal(sim);
  }

  /** Whether the guest agent answers now. */
  agentRunning(vm: VmState, now = Date.now()): boolean {
    return (
      vm.status === 'running' &&
      vm.guest.agentReadyAt !== undefined &&
      vm.guest.agentReadyAt <= now &&
      parseProps(vm.config.agent ?? '0', 'enabled').enabled === '1' &&
      !this.faults.has('agentNever', { vmid: vm.vmid })
    );
  }

  /** Boots a VM (start task end, out-of-band power-on). */
  boot(vm: VmState): void {
    bootGuest(vm, Date.now(), this.agentBootRealMs(vm));
    this.world.touch(vm, Date.now());
  }

  /** Halts a VM. */
  halt(vm: VmState): void {
    haltGuest(vm);
    this.world.touch(vm, Date.now());
  }

  // ---- call log ----

  /** Records an API call. */
  record(rec: Omit<CallRecord, 'seq' | 'time'>): void {
    const full: CallRecord = { seq: ++this.seq, time: new Date().toISOString(), ...rec };
    this.calls.push(full);
    if (this.calls.length > MAX_CALLS) this.calls.splice(0, this.calls.length - MAX_CALLS);
    if (rec.schemaViolations) this.violations.push(full);
    this.counters.set(rec.endpoint, (this.counters.get(rec.endpoint) ?? 0) + 1);
  }

  /** Every API call so far (the last 20,000), optionally after sequence number `since`. */
  callLog(since = 0): CallRecord[] {
    return this.calls.filter((c) => c.seq > since);
  }

  /** Forgets the call log, violations and counters. */
  clearCallLog(): void {
    this.calls.length = 0;
    this.violations.length = 0;
    this.counters.clear();
  }

  /** Requests the PVE schema check refused. */
  schemaViolations(): CallRecord[] {
    return [...this.violations];
  }

  /** Request counts per endpoint. */
  stats(): {
    total: number;
    byEndpoint: Record<string, number>;
    runningTasks: number;
    vms: number;
    daemon: { busy: number; waiting: number; byNode: Record<string, { busy: number; waiting: number }> };
  } {
    let total = 0;
    const byEndpoint: Record<string, number> = {};
    for (const [k, v] of this.counters) {
      byEndpoint[k] = v;
      total += v;
    }
    return {
      total,
      byEndpoint,
      runningTasks: this.tasks.running().length,
      vms: this.world.vms.size,
      daemon: this.daemonLoad(),
    };
  }

  private daemonLoad(): {
    busy: number;
    waiting: number;
    byNode: Record<string, { busy: number; waiting: number }>;
  } {
    const byNode: Record<string, { busy: number; waiting: number }> = {};
    let busy = 0;
    let waiting = 0;
    for (const [node, pool] of this.daemons) {
      const l = pool.load();
      byNode[node] = l;
      busy += l.busy;
      waiting += l.waiting;
    }
    return { busy, waiting, byNode };
  }

  // ---- in-process API ----

  /** A view of one VM. */
  getVm(vmid: number): VmView | undefined {
    const vm = this.world.vms.get(vmid);
    return vm ? this.view(vm) : undefined;
  }

  /** All VMs (templates included), by vmid. */
  listVms(): VmView[] {
    return [...this.world.vms.keys()]
      .sort((a, b) => a - b)
      .map((id) => this.view(this.world.vms.get(id) as VmState));
  }

  private view(vm: VmState): VmView {
    const disks: VmView['disks'] = [];
    for (const [key, value] of Object.entries(vm.config)) {
      if (!/^(scsi|virtio|sata|ide|efidisk|tpmstate|unused)\d+$/.test(key)) continue;
      const volid = parseProps(value, 'file').file ?? value;
      const vol = vm.volumes[volid];
      if (vol) disks.push({ key, volid, storage: vol.storage, sizeGiB: vol.sizeGiB, usedGiB: vol.usedGiB });
    }
    return {
      vmid: vm.vmid,
      node: vm.node,
      name: vm.config.name,
      status: vm.status,
      template: vm.config.template === '1',
      lock: vm.config.lock,
      tags: vm.config.tags,
      description: vm.config.description,
      config: { ...vm.config },
      pending: { ...vm.pending },
      pendingDelete: [...vm.pendingDelete],
      disks,
      pool: vm.pool,
      haManaged: vm.haManaged,
      agentRunning: this.agentRunning(vm),
      digest: digestOf(vm),
    };
  }

  /** Adds a fault; returns its id. */
  setFault(spec: FaultSpec): string {
    return this.faults.add(spec);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  removeFault(id: string): boolean {
    return this.faults.remove(id);
  }

  /** A VM created outside workerctl (someone else's VM). */
  createForeignVm(spec: {
    vmid: number;
    node: string;
    name?: string;
    tags?: string;
    running?: boolean;
    config?: Record<string, string | number>;
  }): VmView {
    if (this.world.vms.has(spec.vmid)) throw new Error(`vmid ${spec.vmid} already exists`);
    if (!this.world.nodes.has(spec.node)) throw new Error(`unknown node '${spec.node}'`);
    const vm = this.world.addFromSpec(
      {
        ...spec,
        disk: { size: 32, used: 4 },
        config: { net0: 'virtio,bridge=vmbr0', ...(spec.config ?? {}) },
      },
      Date.now(),
    );
    if (spec.running) {
      vm.guest.agentReadyAt = Date.now();
    }
    return this.view(vm);
  }

  /** Someone edits the VM in the Proxmox UI (drift): `null` deletes a key. Applied like PUT config. */
  editVmConfig(vmid: number, changes: Record<string, string | number | null>): VmView {
    const vm = this.world.vms.get(vmid);
    if (!vm) throw new Error(`vm ${vmid} does not exist`);
    const set: Record<string, unknown> = {};
    const del: string[] = [];
    for (const [k, v] of Object.entries(changes))
      if (v === null) del.push(k);
      else set[k] = v;
    if (del.length > 0) set.delete = del.join(',');
    writeConfig(this.world, this.rng, vm, configChanges(set));
    this.world.touch(vm, Date.now());
    return this.view(vm);
  }

  /** Powers a VM on or off behind the API's back. */
  setVmPower(vmid: number, status: 'running' | 'stopped'): VmView {
    const vm = this.world.vms.get(vmid);
    if (!vm) throw new Error(`vm ${vmid} does not exist`);
    if (status === 'running' && vm.status !== 'running') this.boot(vm);
    if (status === 'stopped' && vm.status !== 'stopped') this.halt(vm);
    return this.view(vm);
  }

  /** Deletes a VM behind the API's back. */
  removeVm(vmid: number): boolean {
    const had = this.world.vms.has(vmid);
    this.world.removeVm(vmid);
    return had;
  }

  /** Adds a guest command table entry (regex on the joined command line). */
  setGuestCommand(pattern: string, result: GuestCommandResult | GuestCommand): void {
    this.guestCommands.set(pattern, result);
  }

  /** Crashes a running task ("unexpected status"); config locks it set stay behind. */
  crashTask(upid: string): boolean {
    return this.tasks.crash(upid);
  }

  /** The next task matching (type, vmid) fails with `message`. */
  failNextTask(match: { type?: string; vmid?: number; message?: string } = {}): string {
    return this.faults.add({
      kind: 'failTask',
      taskType: match.type,
      vmid: match.vmid,
      message: match.message,
      count: 1,
    });
  }

  /** A task's status and log, and when it ended (real epoch ms: benchmarks time hand-overs with it). */
  task(upid: string):
    | {
        upid: string;
        type: string;
        id: string;
        status: string;
        exitstatus?: string;
        log: string[];
        endedAt?: number;
      }
    | undefined {
    const t = this.tasks.get(upid);
    return (
      t && {
        upid: t.upid,
        type: t.type,
        id: t.id,
        status: t.status,
        exitstatus: t.exitstatus,
        log: [...t.log],
        endedAt: t.endedAt,
      }
    );
  }

  /** Resolves when no task is running (tests). */
  async idle(): Promise<void> {
    for (;;) {
      const running = this.tasks.running();
      if (running.length === 0) return;
      await Promise.all(running.map((t) => t.done));
    }
  }

  /** Crashes every running task (simulator shutdown), so no simulated work outlives close(). */
  stopAllTasks(): void {
    for (const t of this.tasks.running()) this.tasks.crash(t.upid);
  }

  /** The whole state (GET /_sim/state). */
  state(): Record<string, unknown> {
    return {
      clusterName: this.world.clusterName,
      latency: this.latency.name,
      timeScale: this.latency.timeScale,
      resourcesLag: this.resourcesLag,
      assumptions: this.assumptions,
      nodes: [...this.world.nodes.values()],
      storages: [...this.world.storages.values()],
      pools: Object.fromEntries([...this.world.pools].map(([k, v]) => [k, [...v]])),
      vms: this.listVms(),
      tasks: this.tasks
        .all()
        .map((t) => ({ upid: t.upid, type: t.type, id: t.id, status: t.status, exitstatus: t.exitstatus })),
      faults: this.faults.list(),
      stats: this.stats(),
    };
  }

  /** Current pending view of a VM (handlers). */
  configView(vm: VmState): Record<string, string> {
    return pendingView(vm);
  }

  /** Disk totals of a VM (handlers). */
  disks(vm: VmState): { size: number; used: number } {
    return diskTotals(vm);
  }
}
