/**
 * The seam between the reconcile core (observe, plan, execute: reconcile/*.ts) and the controller
 * runtime (watcher, queue, CLI: runtime/*.ts, cli/commands/*). Both sides code against these types.
 */
import type { ProxmoxClient } from '../proxmox/client.js';
import type { VmResource } from '../proxmox/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
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
  /** Periodic full resync, jittered. */
  resyncIntervalMs: number;
  /** A converged worker's config is re-read (drift check) at most this often... */
  driftCheckIntervalMs: number;
  /** ...and at most this many config reads per pass. */
  driftBudgetPerPass: number;
  /** Graceful shutdown wait before forceStop, seconds. */
  shutdownTimeoutSec: number;
  /** The backup server the worker test checks for reachability (issue 5). */
  backupServer?: string;
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

/** What one reconcile of one worker asks of the queue. */
export interface ReconcileResult {
  /** Come back after this long (task in flight, waiting for sessions, drift check due). */
  requeueAfterMs?: number;
}

/** The reconcile core as the runtime sees it. */
export interface FleetReconciler {
  /**
   * Merges a manifest load into the store (invariant 1: workers of invalid files keep their last
   * valid spec; invariant 2: mass deletions held back) and returns the names whose desired state
   * changed plus the names to remove.
   */
  applyDesired(load: LoadResult): Promise<{ changed: string[]; removed: string[]; plan: Plan }>;
  /** One cluster-wide observation (GET /cluster/resources), cached for the pass. */
  observe(): Promise<VmResource[]>;
  /** Pure planning over the store and the last observation (what `workerctl plan` prints). */
  plan(): Promise<Plan>;
  /** Converges one worker; level-triggered: reads everything it needs each time. */
  reconcile(name: string, signal: AbortSignal): Promise<ReconcileResult>;
}
