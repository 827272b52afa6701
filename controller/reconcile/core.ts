/**
 * The reconcile core assembled: intake (manifests -> desired state), the reconciler (observe, plan,
 * converge one worker) and the executor it mutates Proxmox through, sharing one set of slots. What
 * the controller loop sees of it is FleetReconciler.
 */
import type { LoadResult } from '../types.js';
import type {
  FleetReconciler,
  IntakeResult,
  Plan,
  PowerOp,
  ReconcileDeps,
  ReconcileResult,
} from './contracts.js';
import { VmidAllocator } from './execute/allocate.js';
import { Executor, type ExecutorHooks } from './execute/executor.js';
import { OperationSlots } from './execute/slots.js';
import { Intake } from './intake.js';
import { Reconciler } from './reconciler.js';

export interface ReconcileCoreOptions {
  /** Test seam (crash simulation). */
  hooks?: ExecutorHooks;
  /** Record uids (default: random UUIDs). */
  newUid?: () => string;
}

export class ReconcileCore implements FleetReconciler {
  readonly slots: OperationSlots;
  readonly executor: Executor;
  readonly reconciler: Reconciler;
  readonly intake: Intake;

  constructor(deps: ReconcileDeps, options: ReconcileCoreOptions = {}) {
    this.slots = new OperationSlots(deps.settings.limits);
    this.executor = new Executor({
      ...deps,
      slots: this.slots,
      allocator: new VmidAllocator(deps.client, deps.store),
      hooks: options.hooks,
    });
    this.reconciler = new Reconciler(deps, this.executor);
    this.intake = new Intake(deps, this.reconciler, options.newUid);
  }

  get observer() {
    return this.reconciler.observer;
  }

  get massDeleteBlocked(): Plan['massDeleteBlocked'] {
    return this.intake.massDeleteBlocked;
  }

  /** FleetReconciler.applyDesired; `only`: take in only these workers (adopt), the others stay. */
  applyDesired(
    load: LoadResult,
    opts: { partial?: boolean; only?: ReadonlySet<string>; beforeSaved?: boolean } = {},
  ): Promise<IntakeResult> {
    return this.intake.applyDesired(load, opts.only, {
      partial: opts.partial,
      beforeSaved: opts.beforeSaved,
    });
  }

  observe() {
    return this.reconciler.observe();
  }

  plan(): Promise<Plan> {
    return this.reconciler.plan(this.intake.massDeleteBlocked, this.intake.scopedRecords());
  }

  inScope(name: string): boolean {
    return this.intake.inScope(name);
  }

  reconcile(name: string, signal: AbortSignal): Promise<ReconcileResult> {
    return this.reconciler.reconcile(name, signal);
  }

  power(name: string, op: PowerOp, cause: string, signal: AbortSignal): Promise<void> {
    return this.reconciler.power(name, op, cause, signal);
  }
}

/** Builds the reconcile core over its dependencies. */
export function createReconcileCore(deps: ReconcileDeps, options: ReconcileCoreOptions = {}): ReconcileCore {
  return new ReconcileCore(deps, options);
}
