/**
 * Observation: one GET /cluster/resources per pass, plus targeted config reads for the workers that
 * need it: the spec changed since the last convergence (always), or a drift check is due, or the
 * listing's cpu/memory disagree with the spec (both within the per-pass drift budget). Only reads.
 *
 * A config is read as GET …/pending, not GET config: the same one call gives the config as GET
 * config shows it (pending values applied) and which keys still wait for a restart. The listing's
 * power state may be seconds old, so "running, hence its cpu/memory changes are pending" cannot be
 * inferred from it; PVE's pending section says so directly.
 */
import type { ProxmoxClient } from '../proxmox/client.js';
import type { PveStorage, VmConfig, VmPending, VmResource } from '../proxmox/types.js';
import type { WorkerRecord } from '../types.js';
import type { ControllerSettings } from './contracts.js';
import type { DeployFacts } from './deploy-path.js';
import { NotFoundError } from '../errors.js';
import type { StorageScopes } from './execute/storage-scope.js';
import type { FreshListing } from './fresh-listing.js';
import { SingleFlight } from '../queue/single-flight.js';

/** Keys whose change waits for the next boot, with the value in effect (undefined: unset). */
export type PendingKeys = ReadonlyMap<string, string | undefined>;

/** GET …/pending as the config GET config would show (pending applied) plus the keys still pending. */
export function fromPending(p: VmPending): { config: VmConfig; pending: Map<string, string | undefined> } {
  const values: Record<string, string> = {};
  const pending = new Map<string, string | undefined>();
  for (const e of p.entries) {
    if (e.delete) pending.set(e.key, e.value);
    else if (e.pending !== undefined) {
      pending.set(e.key, e.value);
      values[e.key] = e.pending;
    } else if (e.value !== undefined) values[e.key] = e.value;
  }
  return { config: { values, digest: p.digest }, pending };
}

/** How long deploy facts (template configs, storage lists) serve later passes (clock ms). */
export const FACTS_TTL_MS = 30_000;

/** Why a worker's config is read. */
export type ConfigReadReason = 'spec' | 'drift' | 'mismatch';

export class Observer {
  resources: VmResource[] | undefined;
  /** Clock time of the last listing. */
  takenAt = -Infinity;
  /** Configs read in this pass, by vmid. */
  readonly configs = new Map<number, VmConfig>();
  /** Keys with changes not applied yet, of the configs read in this pass, by vmid. */
  readonly pending = new Map<number, PendingKeys>();
  /** Power states read fresh (status/current) since the last listing, by vmid: newer than it. */
  readonly power = new Map<number, string>();
  /** Last config read per worker (drift check schedule). */
  readonly lastConfigRead = new Map<string, number>();
  /** Template configs read this pass (deploy paths), by vmid. */
  readonly templates = new Map<number, Record<string, string>>();
  /** Storages per node read this pass (deploy paths). */
  readonly storages = new Map<string, readonly PveStorage[]>();
  /**
   * Names of listing entries that had none (pve-manager PVE/API2/Cluster.pm resources shows a fresh
   * VM without its name until pvestatd's next broadcast), read from their configs this pass.
   */
  readonly names = new Map<number, string>();
  /** VMs whose lock no task holds, found this pass. */
  readonly deadLocks = new Set<number>();
  #recorded: ReadonlySet<number> | undefined;
  #budgetUsed = 0;
  /** When the kept deploy facts were first read (clock ms). */
  #factsAt = -Infinity;
  /** Deploy-fact reads in flight, by what they read. */
  readonly #inFlight = new SingleFlight<void>();

  constructor(
    private readonly client: ProxmoxClient,
    private readonly settings: ControllerSettings,
    /** Shared with the executor: fresh listings (name checks) and which storages are shared. */
    private readonly shared: { listings?: FreshListing; scopes?: StorageScopes } = {},
  ) {}

  /** Starts a pass: one cluster listing; configs of the previous pass are forgotten. */
  async list(now: number): Promise<VmResource[]> {
    const resources = await this.client.vmResources();
    this.resources = resources;
    this.takenAt = now;
    this.power.clear();
    this.configs.clear();
    this.pending.clear();
    // Template configs and storage lists change rarely: passes in quick succession share them.
    if (now - this.#factsAt >= FACTS_TTL_MS) {
      this.templates.clear();
      this.storages.clear();
      this.#factsAt = now;
    }
    this.names.clear();
    this.deadLocks.clear();
    this.#recorded = undefined;
    this.#budgetUsed = 0;
    return resources;
  }

  /** The deploy facts read this pass. */
  facts(): DeployFacts {
    return { storages: this.storages, templates: this.templates };
  }

  /**
   * Reads what choosing a deploy path from `template` to `host` needs, once per pass: workers planned
   * at the same time share one read of each (the read in flight, not only its result).
   */
  async readDeployFacts(template: VmResource, host: string): Promise<void> {
    const reads: Promise<void>[] = [];
    if (!this.templates.has(template.vmid)) {
      reads.push(
        this.#inFlight.run(`template ${template.vmid}`, async () => {
          const cfg = await this.client.getConfig(template.node, template.vmid);
          this.templates.set(template.vmid, cfg.values);
        }),
      );
    }
    for (const node of new Set([template.node, host])) {
      if (!this.storages.has(node)) {
        reads.push(
          this.#inFlight.run(`storages ${node}`, async () => {
            const list = await this.client.storages(node);
            this.storages.set(node, list);
            // The executor keys its slots by whether a storage is shared: it need not read again.
            this.shared.scopes?.learn(node, list);
          }),
        );
      }
    }
    await Promise.all(reads);
  }

  /**
   * Reads the names of unnamed entries (not templates, not `skip()`: our own records' VMs, asked only
   * when there is such an entry), so that a VM made seconds ago is seen under its name before a clone
   * is planned next to it (invariant 3). Resolves true when a name was learnt.
   */
  async readMissingNames(
    resources: readonly VmResource[],
    skip: () => ReadonlySet<number>,
  ): Promise<boolean> {
    let learnt = false;
    let ours: ReadonlySet<number> | undefined;
    for (const r of resources) {
      if (r.name || r.template || this.names.has(r.vmid)) continue;
      if ((ours ??= skip()).has(r.vmid)) continue;
      try {
        const name = (await this.client.getConfig(r.node, r.vmid)).values.name;
        this.names.set(r.vmid, name ?? '');
        if (name) learnt = true;
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    return learnt;
  }

  /** The listing with the names read by readMissingNames filled in. */
  named(resources: readonly VmResource[]): readonly VmResource[] {
    if (this.names.size === 0) return resources;
    return resources.map((r) => {
      const name = r.name ? undefined : this.names.get(r.vmid);
      return name ? { ...r, name } : r;
    });
  }

  /**
   * True when no task of the VM runs on its node (GET /nodes/{node}/tasks, source active, its id; a
   * vzdump of the node, whose id may name no VM, counts as holding it): its lock stays behind.
   */
  async isDeadLock(vm: VmResource): Promise<boolean> {
    if (this.deadLocks.has(vm.vmid)) return true;
    const mine = await this.client.tasks(vm.node, { source: 'active', vmid: vm.vmid });
    if (mine.length > 0) return false;
    const backups = await this.client.tasks(vm.node, { source: 'active', type: 'vzdump' });
    if (backups.length > 0) return false;
    this.deadLocks.add(vm.vmid);
    return true;
  }

  /** The vmids of our records, as `read` gives them, kept until the next listing. */
  recorded(read: () => ReadonlySet<number>): ReadonlySet<number> {
    return (this.#recorded ??= read());
  }

  /**
   * A fresh listing within a pass (after our own changes): keeps the pass's configs and budget.
   * Workers refreshing at the same time share one listing sent after each asked.
   */
  async refresh(now: number): Promise<VmResource[]> {
    const resources = await (this.shared.listings?.get() ?? this.client.vmResources());
    this.#recorded = undefined;
    this.resources = resources;
    this.takenAt = now;
    this.power.clear();
    return resources;
  }

  /** Why `record`'s config should be read now, or undefined. Budgeted reasons are not counted here. */
  readReason(record: WorkerRecord, vm: VmResource | undefined, now: number): ConfigReadReason | undefined {
    if (!vm || record.vmid === undefined || record.intent) return undefined;
    if (record.status.observedGeneration !== record.generation || record.removeRequestedAt) return 'spec';
    if (record.deployed === undefined) return 'spec';
    const last = this.lastConfigRead.get(record.name);
    if (last === undefined || now - last >= this.settings.driftCheckIntervalMs) return 'drift';
    const spec = record.spec;
    if (vm.maxcpu !== undefined && vm.maxcpu !== spec.cpus) return 'mismatch';
    if (vm.maxmem !== undefined && vm.maxmem !== spec.memoryGiB * 1024 ** 3) return 'mismatch';
    return undefined;
  }

  /**
   * Reads the config of `record`'s VM when it is due (or `force`), counting drift reads against the
   * pass budget. Returns the config known for this pass, if any.
   */
  async configFor(
    record: WorkerRecord,
    vm: VmResource | undefined,
    now: number,
    force = false,
  ): Promise<VmConfig | undefined> {
    if (!vm || record.vmid === undefined) return undefined;
    const cached = this.configs.get(vm.vmid);
    if (cached && !force) return cached;
    const reason = force ? 'spec' : this.readReason(record, vm, now);
    if (!reason) return undefined;
    if (reason !== 'spec') {
      if (this.#budgetUsed >= this.settings.driftBudgetPerPass) return undefined;
      this.#budgetUsed++;
    }
    try {
      const { config: cfg, pending } = fromPending(await this.client.pending(vm.node, vm.vmid));
      this.configs.set(vm.vmid, cfg);
      this.pending.set(vm.vmid, pending);
      this.lastConfigRead.set(record.name, now);
      return cfg;
    } catch (err) {
      // Gone between the listing and the read: the next listing shows it.
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /** Puts `entry` into the listing in place of the VM's entry, if any (the listing's age is kept). */
  place(entry: VmResource): void {
    if (!this.resources) return;
    this.resources = [...this.resources.filter((r) => r.vmid !== entry.vmid), entry];
  }

  /** Forgets what is known of one VM (after we changed it). */
  invalidate(vmid: number | undefined): void {
    if (vmid !== undefined) {
      this.configs.delete(vmid);
      this.pending.delete(vmid);
      this.power.delete(vmid);
    }
    this.takenAt = -Infinity;
  }
}
