/**
 * The executor: the only part of workerctl that changes Proxmox. It carries out one planned action
 * (execute) or a power operation of the lifecycle (power), each operation in its own file, every
 * call through mutation.ts (slots, intent first, UPID recorded, bounded wait).
 */
import { TerminalError, errorMessage, type TaskFailedError } from '../../errors.js';
import type { TaskRef, VmConfig, VmResource } from '../../proxmox/types.js';
import type { DeployProgress, WorkerRecord } from '../../types.js';
import type { PlannedAction, PowerOp, VmLocation } from '../contracts.js';
import type { WorkerPlan } from '../plan.js';
import type { WorkerRun } from '../worker-run.js';
import { adoptVm } from './adopt.js';
import { cloneFailed, cloneSucceeded, cloneVm } from './clone.js';
import { configureVm } from './configure.js';
import { continueDeploy, stepDone } from './deploy.js';
import { Mutations, type ExecutorDeps } from './mutation.js';
import { powerVm, restartVm } from './power.js';
import { destroyVm, orphanVm, unlockVm } from './remove.js';
import { resizeVm } from './resize.js';
import type { StorageScopes } from './storage-scope.js';
import type { FreshListing } from '../fresh-listing.js';

export { CLONE_WAIT_MS, TASK_WAIT_MS, type ExecutorHooks } from './mutation.js';

export class Executor {
  readonly #m: Mutations;

  constructor(deps: ExecutorDeps) {
    this.#m = new Mutations(deps);
  }

  /** The fresh cluster listings the name checks share (the observer's passes share them too). */
  get listings(): FreshListing {
    return this.#m.listings;
  }

  /** Which storages are shared (the observer tells it what it read). */
  get scopes(): StorageScopes {
    return this.#m.scopes;
  }

  /**
   * Carries out one planned action of `plan` for the run's worker. `config`: the VM's config the
   * plan was made on, when nothing was written to it since (a configure writes on it).
   */
  async execute(
    run: WorkerRun,
    action: PlannedAction,
    plan: WorkerPlan,
    _resources: readonly VmResource[],
    signal: AbortSignal,
    config?: VmConfig,
  ): Promise<void> {
    const m = this.#m;
    const id = plan.ownership.identity;
    const owned = id.kind === 'ours' || id.kind === 'half' ? id.vm : undefined;
    const vm = () => need(owned, action);
    switch (action.kind) {
      case 'create': {
        if (!plan.deployPath) throw new TerminalError(`internal: create planned without a deploy path`);
        await cloneVm(m, run, { path: plan.deployPath, signal });
        return continueDeploy(m, run, signal);
      }
      case 'unlock':
        return unlockVm(m, run, { vm: vm(), signal });
      case 'configure':
        return configureVm(m, run, { vm: vm(), action, plan, signal, ...(config ? { config } : {}) });
      case 'resize':
        return resizeVm(m, run, { vm: vm(), plan, signal });
      case 'restart':
        return restartVm(m, run, { vm: vm(), signal });
      case 'redeploy':
        await destroyVm(m, run, { vm: vm(), signal });
        run.rec.vmid = undefined;
        run.rec.node = undefined;
        run.rec.deployed = undefined;
        run.rec.leftover = undefined;
        await run.persist();
        run.note('vm deleted for redeploy', action.reason);
        return;
      case 'delete': {
        const vmid = run.rec.vmid;
        await destroyVm(m, run, { vm: vm(), signal });
        if (await run.drop(`vm ${vmid} deleted`)) run.log.info('vm deleted, record dropped', { vmid });
        else run.log.info('vm deleted; the worker was declared again and stays', { vmid });
        return;
      }
      case 'orphan': {
        const vmid = run.rec.vmid;
        await orphanVm(m, run, { vm: vm(), signal });
        if (await run.drop(`vm ${vmid} orphaned`)) run.log.info('vm orphaned, record dropped', { vmid });
        else run.log.info('vm orphaned; the worker was declared again and stays', { vmid });
        return;
      }
      case 'forget':
        if (await run.drop('record kept')) run.log.info('record dropped', { reason: action.reason });
        return;
      default:
        // wait, conflict, resume: nothing to do here (resume is handled before planning).
        return;
    }
  }

  /** Powers the worker's VM on or off unless it already is; resolves true when it acted. */
  power(run: WorkerRun, opts: { op: PowerOp; vm: VmLocation; signal: AbortSignal }): Promise<boolean> {
    return powerVm(this.#m, run, opts);
  }

  /** Marks `vm` as the run's worker's (workerctl adopt; reconcile/takeover.ts checked it may). */
  adopt(run: WorkerRun, opts: { vm: VmResource; signal: AbortSignal }): Promise<void> {
    return adoptVm(this.#m, run, opts);
  }

  /** Follows a recorded task (resume.ts); a failed task clears the intent unless `keepIntent`. */
  waitTask(
    run: WorkerRun,
    task: TaskRef,
    signal: AbortSignal,
    waitMs: number,
    keepIntent = false,
  ): Promise<void> {
    return this.#m.waitTask(run, task, signal, waitMs, keepIntent);
  }

  /** The intent's task succeeded (resume.ts): its step is done. */
  async intentSucceeded(run: WorkerRun): Promise<void> {
    const op = run.rec.intent?.op;
    if (op === 'clone') {
      run.rec.deploy ??= legacyDeploy(run.rec);
      return cloneSucceeded(run);
    }
    if (op === 'move-disk' || op === 'migrate') return stepDone(run);
    run.rec.intent = undefined;
    await run.persist();
  }

  /** The intent's task failed (resume.ts): a clone's leftover is recorded, any other intent dropped. */
  async intentFailed(run: WorkerRun, err: TaskFailedError): Promise<void> {
    const intent = run.rec.intent;
    if (intent?.op === 'clone') return cloneFailed(this.#m, run, intent.vmid, err.exitStatus);
    run.rec.intent = undefined;
    await run.persist();
    if (intent) run.note(`${intent.op} failed`, err.message);
  }

  /** The steps of a deploy still to do (after a crash, or a clone followed by resume.ts). */
  continueDeploy(run: WorkerRun, signal: AbortSignal): Promise<void> {
    return continueDeploy(this.#m, run, signal);
  }
}

/**
 * A clone intent written before deploys had steps (a database from an older workerctl): the VM was
 * cloned straight onto the worker's node and storage, so only the finish is left.
 */
function legacyDeploy(rec: WorkerRecord): DeployProgress {
  const { host, storage } = rec.spec;
  return {
    path: {
      kind: 'local',
      template: { vmid: rec.intent?.source ?? 0, node: rec.intent?.node ?? host },
      cloneStorage: storage,
      cloneNode: host,
      node: host,
      storage,
      disk: 'scsi0',
    },
    steps: ['clone', 'finish'],
  };
}

function need(vm: VmResource | undefined, action: PlannedAction): VmResource {
  if (!vm)
    throw new Error(`internal: ${action.kind} planned without a vm of ours (${errorMessage(action.reason)})`);
  return vm;
}
