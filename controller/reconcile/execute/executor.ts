/**
 * The executor: the only part of workerctl that changes Proxmox. It carries out one planned action
 * (execute) or a power operation of the lifecycle (power), each operation in its own file, every
 * call through mutation.ts (slots, intent first, UPID recorded, bounded wait).
 */
import { errorMessage } from '../../errors.js';
import type { TaskRef, VmResource } from '../../proxmox/types.js';
import type { PlannedAction, PowerOp, VmLocation } from '../contracts.js';
import type { WorkerPlan } from '../plan.js';
import type { WorkerRun } from '../worker-run.js';
import { adoptVm } from './adopt.js';
import { cleanupFailedClone, cloneVm, finishClone } from './clone.js';
import { configureVm } from './configure.js';
import { Mutations, type ExecutorDeps } from './mutation.js';
import { powerVm, restartVm } from './power.js';
import { destroyVm, orphanVm } from './remove.js';
import { resizeVm } from './resize.js';

export { CLONE_WAIT_MS, TASK_WAIT_MS, type ExecutorHooks } from './mutation.js';
export { CLONE_ABANDON_MS, findTemplate } from './clone.js';

export class Executor {
  readonly #m: Mutations;

  constructor(deps: ExecutorDeps) {
    this.#m = new Mutations(deps);
  }

  /** Carries out one planned action of `plan` for the run's worker. */
  async execute(
    run: WorkerRun,
    action: PlannedAction,
    plan: WorkerPlan,
    resources: readonly VmResource[],
    signal: AbortSignal,
  ): Promise<void> {
    const m = this.#m;
    const id = plan.ownership.identity;
    const owned = id.kind === 'ours' || id.kind === 'half' ? id.vm : undefined;
    const vm = () => need(owned, action);
    switch (action.kind) {
      case 'create':
        return cloneVm(m, run, { resources, signal });
      case 'configure':
        return configureVm(m, run, { vm: vm(), action, plan, signal });
      case 'resize':
        return resizeVm(m, run, { vm: vm(), plan, signal });
      case 'restart':
        return restartVm(m, run, { vm: vm(), signal });
      case 'redeploy':
        await destroyVm(m, run, { vm: vm(), signal });
        run.rec.vmid = undefined;
        run.rec.node = undefined;
        run.rec.deployed = undefined;
        await run.persist();
        run.note('vm deleted for redeploy', action.reason);
        return;
      case 'delete':
        await destroyVm(m, run, { vm: vm(), signal });
        run.log.info('vm deleted, record dropped', { vmid: run.rec.vmid });
        await run.drop();
        return;
      case 'orphan':
        await orphanVm(m, run, { vm: vm(), signal });
        run.log.info('vm orphaned, record dropped', { vmid: run.rec.vmid });
        await run.drop();
        return;
      case 'forget':
        run.log.info('record dropped', { reason: action.reason });
        await run.drop();
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

  /** Follows a recorded task (resume.ts); a failed task clears the intent. */
  waitTask(run: WorkerRun, task: TaskRef, signal: AbortSignal, waitMs: number): Promise<void> {
    return this.#m.waitTask(run, task, signal, waitMs);
  }

  /** The last step of a clone, after a crash or a followed task (resume.ts). */
  finishClone(run: WorkerRun, vmid: number, signal: AbortSignal): Promise<void> {
    return finishClone(this.#m, run, vmid, signal);
  }

  /** Cleans up after a failed clone (resume.ts). */
  cleanupFailedClone(run: WorkerRun, vmid: number, signal: AbortSignal): Promise<void> {
    return cleanupFailedClone(this.#m, run, vmid, signal);
  }
}

function need(vm: VmResource | undefined, action: PlannedAction): VmResource {
  if (!vm)
    throw new Error(`internal: ${action.kind} planned without a vm of ours (${errorMessage(action.reason)})`);
  return vm;
}
