/**
 * The seams of the reconcile core (intake, observe, plan, execute: reconcile/*.ts): what the
 * controller loop (loop/controller.ts) and the lifecycle (lifecycle/*.ts) code against.
 */
import type { ProxmoxClient } from '../proxmox/client.js';
import type { VmResource } from '../proxmox/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { Selector } from '../selector.js';
import type { LoadResult } from '../types.js';

/** Controller-wide settings (flags / settings file), with defaults in reconcile/settings.ts. */
export interface ControllerSettings {
  /** The Proxmox tag that marks a VM as ours (invariant 3), e.g. 'workerctl'. */
  ownerTag: string;
  /** Concurrent mutating operations per node / per storage, and clones per storage. */
  limits: { perNode: number; perStorage: number; clonesPerStorage: number };
  /** Deleting more than this share of the recorded workers in one pass needs allowMassDelete (invariant 2). */
  massDelete: { maxFraction: number; minCount: number };
  allowMassDelete: boolean;
  /**
   * A worker no manifest declares any more is marked for removal only after it stayed undeclared
   * this long (0: at once; `run` waits 10 s so a half-written file never deletes anything).
   */
  removalSettleMs?: number;
  /** Periodic full resync, jittered. */
  resyncIntervalMs: number;
  /** A converged worker's config is re-read (drift check) at most this often... */
  driftCheckIntervalMs: number;
  /** ...and at most this many config reads per pass. */
  driftBudgetPerPass: number;
  /** Graceful shutdown wait before forceStop, seconds. */
  shutdownTimeoutSec: number;
  /** The backup server the worker test checks for reachability (lifecycle/health-check.ts). */
  backupServer?: string;
  /**
   * The controller logs in as root@pam itself (ticket auth), so it may pass `skiplock` to remove a
   * lock no task holds (qemu-server PVE/API2/Qemu.pm: "Only root may use this option."; never an API
   * token). Otherwise such a VM gets a condition with the `qm unlock` to run.
   */
  skiplock: boolean;
  /** Only workers whose labels match are taken in, planned and reconciled (`-l`; intake.ts). */
  selector?: Selector;
}

/** How disruptive a change is. */
export type ChangeClass = 'none' | 'live' | 'restart' | 'redeploy' | 'destructive';

export interface FieldChange {
  /** Manifest-level field, e.g. spec.cpus, or the PVE key, e.g. net0. */
  field: string;
  from?: string;
  to?: string;
  class: ChangeClass;
}

export type ActionKind =
  | 'create' // clone from template + configure (+ resize), left stopped
  | 'configure' // config keys changed
  | 'resize'
  | 'restart' // apply pending changes that need a restart
  | 'redeploy' // delete and clone again
  | 'start'
  | 'stop'
  | 'delete'
  | 'orphan' // deletionPolicy Orphan: remove our marks, keep the VM
  | 'unlock' // remove a lock no task holds (skiplock as root@pam), or say how
  | 'forget' // drop a record whose VM is already gone
  | 'resume' // finish an intent left by a crash
  | 'conflict' // a foreign VM clashes: reported, nothing done
  | 'wait'; // a change deferred (WhenIdle and sessions open; removal while Working)

export interface PlannedAction {
  worker: string;
  kind: ActionKind;
  class: ChangeClass;
  /** In words, for people: "cpus 4 -> 6 (needs a restart)". */
  reason: string;
  changes: FieldChange[];
  /** Set when the action is deferred or refused (kind 'wait' / 'conflict', or mass-delete guard). */
  blockedBy?: string;
  /**
   * For a conflict: the foreign VM, whether it holds the worker's name or its recorded vmid, and
   * whether it carries the owner tag (then the records were likely lost: workerctl recover).
   */
  conflict?: { kind: 'name' | 'vmid'; vmid: number; node: string; tagged: boolean };
}

export interface Plan {
  actions: PlannedAction[];
  /** True when nothing is to be done (waits and conflicts count as pending for the exit code). */
  converged: boolean;
  /** Set when the mass-delete guard held deletions back. */
  massDeleteBlocked?: { wouldDelete: number; of: number; threshold: string };
}

export interface ReconcileDeps {
  client: ProxmoxClient;
  store: Store;
  logger: Logger;
  clock: Clock;
  settings: ControllerSettings;
}

/** Where a worker's VM is. */
export interface VmLocation {
  node: string;
  vmid: number;
}

/**
 * How one reconcile of one worker ended, typed so that no caller reads conditions or error text.
 * Errors are not outcomes: they are thrown (typed, errors.ts) for the queue's retry table.
 */
export type ReconcileOutcome =
  /** Nothing left to do for the worker's current spec. */
  | { kind: 'converged' }
  /** Something is still to happen: a task runs, a change waits for sessions, the VM is locked. */
  | { kind: 'pending'; reason: string }
  /** A foreign VM clashes with the worker; it is left alone (invariant 3). */
  | { kind: 'conflict'; reason: string }
  /** The worker has no record (any more): removed from the manifests and dropped. */
  | { kind: 'gone' };

/** What one reconcile of one worker ended with, and what it asks of the queue. */
export interface ReconcileResult {
  outcome: ReconcileOutcome;
  /** Come back after this long (task in flight, waiting for sessions, drift check due). */
  requeueAfterMs?: number;
  /** The worker's VM once it is deployed (cloned, finished, no call in flight). */
  vm?: VmLocation;
}

/** Result of merging a manifest load into the records. */
export interface IntakeResult {
  /** Names whose desired state changed (new, spec changed, re-added). */
  changed: string[];
  /** Names newly marked for removal. */
  removed: string[];
  /** Undeclared workers waiting out the settle window, and when the first of them is due (ms). */
  settling?: { workers: string[]; dueAt: number };
  /** The fleet's plan after the merge (a preview: it is carried out by the reconciles). */
  plan: Plan;
  /**
   * Set by a partial merge: the workers `plan` covers (the changed and removed ones); every other
   * worker's plan is what it was. Unset: `plan` is the whole fleet's.
   */
  planned?: string[];
  /**
   * Set when the merge returned before its durable write (`beforeSaved`): settles once the merged
   * specs are on disk, rejects if that write failed. Nothing mutates Proxmox before then: every
   * mutating call first writes its intent durably (invariant 4), in a write that begins after the
   * merge's (store writes are serialised and always hold the whole database).
   */
  saved?: Promise<void>;
}

/** Power operations (the lifecycle's; a reconcile restarts through the same executor). */
export type PowerOp = 'start' | 'shutdown';

/** The reconcile core as the controller loop sees it: intake, observation, plan, reconcile. */
export interface FleetReconciler {
  /**
   * Merges a manifest load into the store (invariant 1: workers of invalid files keep their last
   * valid spec; invariant 2: mass deletions held back) and returns the names whose desired state
   * changed plus the names to remove. `partial`: merge and plan only the workers this load can
   * have changed since the last merge (same outcome; the plan covers only those). `beforeSaved`:
   * return once the merge is in memory and planned, with the durable write as `saved`.
   */
  applyDesired(load: LoadResult, opts?: { partial?: boolean; beforeSaved?: boolean }): Promise<IntakeResult>;
  /** One cluster-wide observation (GET /cluster/resources), cached for the pass. */
  observe(): Promise<VmResource[]>;
  /** Pure planning over the store and the last observation (what `workerctl plan` prints). */
  plan(): Promise<Plan>;
  /** Converges one worker; level-triggered: reads everything it needs each time. */
  reconcile(name: string, signal: AbortSignal): Promise<ReconcileResult>;
  /** False for a worker a label selector leaves out (settings.selector); absent: every worker is in. */
  inScope?(name: string): boolean;
  /**
   * Powers the worker's VM on or off through the executor (slots, intent first, UPID recorded);
   * resolves once the task ended, at once when the VM already is in that state. Only for a worker
   * nobody else reconciles meanwhile (a HeldWorker's).
   */
  power(name: string, op: PowerOp, cause: string, signal: AbortSignal): Promise<void>;
}

/**
 * A worker the lifecycle holds (WorkerHolds.hold): while it does, the queue reconciles it not, and
 * the lifecycle may reconcile it itself or power it through the executor.
 */
export interface HeldWorker {
  readonly name: string;
  /** One reconcile now (an OnDemand deploy awaits it), with its typed result; errors are thrown. */
  reconcile(signal?: AbortSignal): Promise<ReconcileResult>;
  /** Power on (start) or off (shutdown, forced after the timeout) through the executor. */
  power(op: PowerOp, cause: string, signal?: AbortSignal): Promise<void>;
}

/** Exclusive holds on workers against the reconcile queue (implemented by the controller loop). */
export interface WorkerHolds {
  /**
   * Runs fn once no reconcile of `name` is in flight; until fn ends, the queue hands `name` to no
   * reconcile (a change meanwhile is reconciled right after) and other holds of it wait their turn.
   */
  hold<T>(name: string, fn: (held: HeldWorker) => Promise<T>): Promise<T>;
}
