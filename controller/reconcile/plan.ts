/**
 * The pure planner: records (desired state, sessions, intents) + one observation (cluster resources
 * and the configs read this pass) -> the actions that converge each worker. No I/O, no clock,
 * deterministic (workers in name order). After convergence, including PVE's normalised read-back,
 * it plans nothing.
 *
 * Per worker, in order:
 * 1. an intent left in flight -> resume (nothing else until it is finished);
 * 2. foreign VMs with the worker's name, or a foreign VM at its recorded vmid -> conflict, left alone;
 * 3. removal requested -> wait while Working (unless Immediate), then delete or orphan; forget when gone;
 * 4. no VM -> create when wanted (Eager, or the lifecycle asked: wantDeployed / open sessions);
 * 5. our VM -> redeploy (host/storage/template), configure (live), configure + restart (restart
 *    class on a running VM), resize (grow; shrink refused); disruptive changes wait while the worker
 *    is busy and its spec says WhenIdle.
 *
 * Restart-class keys (cores, memory, ...) written while the VM ran stay pending: GET config shows
 * them as set, so the config alone looks converged. The pending keys (GET …/pending) tell: on a
 * running VM they need a restart, on a stopped one a config write applies them (PVE applies all
 * pending changes of a stopped VM on any write). The power state comes from `power` (a fresh
 * status read) when given, else from the listing, where pending restart-class keys count as running.
 */
import type { ChangeClass, FieldChange, Plan, PlannedAction } from './contracts.js';
import type { VmResource } from '../proxmox/types.js';
import type { DeployPath, WorkerRecord } from '../types.js';
import { chooseDeployPath, describePath, type DeployFacts } from './deploy-path.js';
import { desiredConfig, fieldLabel, type DesiredConfig } from './desired-config.js';
import { classify, diffConfig, diffDisk, diffPlacement, worstClass } from './diff.js';
import { identify, type OwnershipView } from './ownership.js';

/** What the planner sees of the cluster. */
export interface PlanContext {
  resources: readonly VmResource[];
  /** VM configs read this pass, by vmid (values only). */
  configs: ReadonlyMap<number, Readonly<Record<string, string>>>;
  ownerTag: string;
  /** Keys of those configs whose change is not applied yet, with the value in effect, by vmid. */
  pending?: ReadonlyMap<number, ReadonlyMap<string, string | undefined>>;
  /** Power states read fresh (GET status/current), by vmid: they override the listing's. */
  power?: ReadonlyMap<number, string>;
  /** Storages and template configs for choosing deploy paths (read when a create is planned). */
  deploy?: DeployFacts;
  /** VMs of ours whose lock no task holds (no task of the VM runs on its node), by vmid. */
  deadLocks?: ReadonlySet<number>;
  /** The controller may pass `skiplock` (it logs in as root@pam). */
  skiplock?: boolean;
}

/** One worker's plan plus what the executor needs to carry it out. */
export interface WorkerPlan {
  worker: string;
  actions: PlannedAction[];
  ownership: OwnershipView;
  desired: DesiredConfig;
  /** The main disk's key, when the config was read. */
  diskKey?: string;
  /** A create's deploy path, when the facts to choose it were known. */
  deployPath?: DeployPath;
  /** A create whose path needs facts not read yet: this template's config and the nodes' storages. */
  needsFacts?: VmResource;
}

/** The fix for a VM whose lock no task holds. */
export function unlockHint(vm: Pick<VmResource, 'node' | 'vmid'>, lock: string): string {
  return `LockedByDeadTask: vm ${vm.vmid} on ${vm.node} is locked (${lock}) by a task that is gone: run 'qm unlock ${vm.vmid}' on ${vm.node}`;
}

/** True when the lifecycle wants a VM for the worker (Eager, or a test or session asked for one). */
export function wantsVm(record: WorkerRecord): boolean {
  return record.spec.deploy === 'Eager' || record.wantDeployed === true || record.status.sessions.length > 0;
}

/**
 * Why a disruptive change must wait, or undefined when it may go ahead. Invariant 6: a Working worker
 * (phase Working or open sessions) is never disrupted unless its spec says Immediate.
 */
export function busyReason(record: WorkerRecord): string | undefined {
  if (record.spec.applyChanges === 'Immediate') return undefined;
  const n = record.status.sessions.length;
  if (n > 0) return `waiting for ${n} session${n === 1 ? '' : 's'} to end`;
  if (record.status.phase === 'Working') return 'waiting for the worker to stop Working';
  if (record.status.phase === 'Testing' || record.status.phase === 'Updating') {
    return `waiting for the ${record.status.phase} step to end`;
  }
  return undefined;
}

/** 'spec generation N' when the spec changed since the last convergence, else 'drift'. */
export function causeOf(record: WorkerRecord): string {
  return record.status.observedGeneration === record.generation
    ? 'drift'
    : `spec generation ${record.generation}`;
}

function describe(c: FieldChange): string {
  const label = fieldLabel(c.field);
  if (c.field === 'description') return 'description updated';
  const note =
    c.class === 'restart' ? ' (needs a restart)' : c.class === 'redeploy' ? ' (needs a redeploy)' : '';
  return `${label} ${c.from ?? '(unset)'} -> ${c.to ?? '(unset)'}${note}`;
}

/** "cpus 4 -> 6 (needs a restart), dns ..." */
export function describeChanges(changes: readonly FieldChange[]): string {
  return changes.map(describe).join(', ');
}

function action(
  worker: string,
  kind: PlannedAction['kind'],
  cls: ChangeClass,
  reason: string,
  changes: FieldChange[] = [],
  blockedBy?: string,
): PlannedAction {
  const a: PlannedAction = { worker, kind, class: cls, reason, changes };
  if (blockedBy !== undefined) a.blockedBy = blockedBy;
  return a;
}

/** Plans one worker. */
export function planWorker(record: WorkerRecord, ctx: PlanContext): WorkerPlan {
  const name = record.name;
  const spec = record.spec;
  const desired = desiredConfig(spec, { ownerTag: ctx.ownerTag, uid: record.uid ?? name });
  const config = record.vmid !== undefined ? ctx.configs.get(record.vmid) : undefined;
  const ownership = identify(record, ctx.resources, config, ctx.ownerTag);
  const plan: WorkerPlan = { worker: name, actions: [], ownership, desired };
  const out = plan.actions;

  if (record.intent) {
    const i = record.intent;
    out.push(
      action(
        name,
        'resume',
        'none',
        `finish ${i.op} of vm ${i.vmid} on ${i.node}${i.upid ? ' (task in flight)' : ''}`,
      ),
    );
    return plan;
  }
  const removing = record.removeRequestedAt !== undefined;
  const id = ownership.identity;
  // A foreign VM that merely shares the name blocks a create; the worker's own VM is still kept in line.
  if (!removing) {
    for (const c of ownership.clashes) {
      out.push({
        ...action(name, 'conflict', 'none', c.reason, [], 'Conflict: a foreign vm clashes; it is left alone'),
        conflict: { kind: 'name', vmid: c.vmid, node: c.node, tagged: c.tagged },
      });
    }
  }
  if (id.kind === 'foreign') {
    if (removing) {
      out.push(action(name, 'forget', 'none', `drop the record; ${id.reason}, so it is left alone`));
    } else {
      out.push({
        ...action(name, 'conflict', 'none', id.reason, [], 'Conflict: the vm is not ours; it is left alone'),
        conflict: {
          kind: 'vmid',
          vmid: id.vm.vmid,
          node: id.vm.node,
          tagged: id.vm.tags.includes(ctx.ownerTag.toLowerCase()),
        },
      });
    }
    return plan;
  }
  if (id.kind === 'in-flight') {
    out.push(action(name, 'resume', 'none', `finish the clone of vm ${id.vm.vmid}`));
    return plan;
  }
  if (id.kind === 'deploying') {
    const steps = record.deploy!.steps.join(', ');
    out.push(action(name, 'resume', 'none', `continue the deploy of vm ${id.vm.vmid}: ${steps}`));
    return plan;
  }

  if (id.kind === 'half') {
    const lock = id.vm.lock;
    const reason = `vm ${id.vm.vmid} is left from a failed clone: delete it${lock && ctx.skiplock ? ' (its lock skipped as root@pam)' : ''}`;
    const blocked = lock && !ctx.skiplock ? unlockHint(id.vm, lock) : undefined;
    if (removing) out.push(action(name, 'delete', 'destructive', reason, [], blocked));
    else out.push(action(name, 'redeploy', 'redeploy', `${reason} and clone again`, [], blocked));
    return plan;
  }
  if (removing) {
    if (id.kind === 'absent') {
      out.push(action(name, 'forget', 'none', 'removed from the manifests; no vm left'));
      return plan;
    }
    const kind = spec.deletionPolicy === 'Orphan' ? 'orphan' : 'delete';
    const reason =
      kind === 'orphan'
        ? `removed from the manifests: remove our marks from vm ${id.vm.vmid}, keep the vm`
        : `removed from the manifests: shut down and delete vm ${id.vm.vmid} with its disks`;
    const busy = busyReason(record);
    if (busy) out.push(action(name, 'wait', 'destructive', `${kind} deferred: ${reason}`, [], busy));
    else out.push(action(name, kind, kind === 'orphan' ? 'live' : 'destructive', reason));
    return plan;
  }

  if (id.kind === 'absent') {
    if (!wantsVm(record) || ownership.clashes.length > 0) return plan;
    const why =
      record.vmid !== undefined
        ? `vm ${record.vmid} is gone`
        : spec.deploy === 'Eager'
          ? 'deploy Eager'
          : 'requested by the lifecycle';
    const changes = Object.entries(desired)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]): FieldChange => ({ field: k, to: v, class: 'live' }));
    const choice = chooseDeployPath(spec, ctx.resources, ctx.deploy);
    const rest = `configure, resize to ${spec.diskGiB} GiB, leave stopped (${why})`;
    if (choice.ok) {
      plan.deployPath = choice.path;
      out.push(action(name, 'create', 'live', `${describePath(choice.path)}, ${rest}`, changes));
    } else if (choice.code === 'Unknown') {
      plan.needsFacts = choice.template;
      out.push(
        action(
          name,
          'create',
          'live',
          `clone ${spec.template} to ${spec.storage} on ${spec.host}, ${rest}`,
          changes,
        ),
      );
    } else {
      out.push(
        action(
          name,
          'create',
          'live',
          `deploy ${spec.template} to ${spec.storage} on ${spec.host} (${why})`,
          changes,
          `${choice.code}: ${choice.message}`,
        ),
      );
    }
    return plan;
  }

  const vm = id.vm;
  const busy = busyReason(record);
  const cause = causeOf(record);
  const placement = diffPlacement(spec, record.deployed, vm.node, config);
  if (placement.length > 0) {
    const reason = `${describeChanges(placement)}: delete vm ${vm.vmid} and clone again (${cause})`;
    out.push(action(name, busy ? 'wait' : 'redeploy', 'redeploy', reason, placement, busy));
    return plan;
  }
  if (vm.lock) {
    if (ctx.deadLocks?.has(vm.vmid)) {
      const reason = `vm ${vm.vmid} is locked (${vm.lock}) by a task that is gone`;
      if (ctx.skiplock)
        out.push(action(name, 'unlock', 'live', `${reason}: remove the lock (skiplock as root@pam)`));
      else out.push(action(name, 'unlock', 'live', reason, [], unlockHint(vm, vm.lock)));
      return plan;
    }
    out.push(
      action(name, 'wait', 'none', `vm ${vm.vmid} is locked (${vm.lock})`, [], `vm locked (${vm.lock})`),
    );
    return plan;
  }
  if (!config) return plan;

  const pendingKeys = ctx.pending?.get(vm.vmid);
  // Pending restart-class keys of ours mean the VM ran when they were written: without a fresh
  // status read, the listing's "stopped" is not trusted over them.
  const fresh = ctx.power?.get(vm.vmid);
  const running =
    fresh !== undefined
      ? fresh === 'running'
      : vm.status === 'running' || pendingChanges(desired, config, pendingKeys, [], true).length > 0;
  const diff = diffConfig(desired, config, running);
  // Restart-class keys of ours that read as desired but are not applied yet.
  const stuck = pendingChanges(desired, config, pendingKeys, diff, running);
  const changes = running ? diff : [...diff, ...stuck];
  const live = changes.filter((c) => c.class === 'live');
  const restart = [...changes.filter((c) => c.class === 'restart'), ...(running ? stuck : [])];
  if (restart.length > 0 && busy) {
    if (live.length > 0)
      out.push(action(name, 'configure', 'live', `${describeChanges(live)} (${cause})`, live));
    out.push(action(name, 'wait', 'restart', `${describeChanges(restart)} (${cause})`, restart, busy));
  } else if (changes.length > 0 || restart.length > 0) {
    if (changes.length > 0) {
      out.push(
        action(name, 'configure', worstClass(changes), `${describeChanges(changes)} (${cause})`, changes),
      );
    }
    if (restart.length > 0) {
      out.push(
        action(
          name,
          'restart',
          'restart',
          `restart vm ${vm.vmid} to apply ${describeChanges(restart)}`,
          restart,
        ),
      );
    }
  }
  const disk = diffDisk(spec, config);
  if (disk) {
    plan.diskKey = disk.key;
    const c = disk.change;
    if (c.class === 'destructive') {
      out.push(
        action(
          name,
          'resize',
          'destructive',
          `disk ${c.from} -> ${c.to}: shrinking is refused`,
          [c],
          'DiskShrinkRefused: a disk cannot shrink; keep diskGiB or redeploy',
        ),
      );
    } else
      out.push(action(name, 'resize', 'live', `grow disk ${c.field} ${c.from} -> ${c.to} (${cause})`, [c]));
  }
  return plan;
}

/**
 * Our restart-class keys whose desired value is written but pending (not in `diff`, which compares
 * the pending view): on a running VM they need a restart, on a stopped one a write applies them.
 */
function pendingChanges(
  desired: DesiredConfig,
  config: Readonly<Record<string, string>>,
  pending: ReadonlyMap<string, string | undefined> | undefined,
  diff: readonly FieldChange[],
  running: boolean,
): FieldChange[] {
  if (!pending || pending.size === 0) return [];
  const listed = new Set(diff.map((c) => c.field));
  const out: FieldChange[] = [];
  for (const [key, applied] of pending) {
    if (!(key in desired) || listed.has(key) || classify(key, true) !== 'restart') continue;
    const c: FieldChange = { field: key, class: running ? 'restart' : 'live' };
    if (applied !== undefined) c.from = applied;
    if (config[key] !== undefined) c.to = config[key];
    out.push(c);
  }
  return out;
}

/** Plans the fleet: every record, in name order. */
export function planFleet(
  records: readonly WorkerRecord[],
  ctx: PlanContext,
  massDeleteBlocked?: Plan['massDeleteBlocked'],
): Plan {
  return fleetPlanOf(
    records.map((r) => planWorker(r, ctx)),
    massDeleteBlocked,
  );
}

/** The fleet's plan from its workers' plans, in name order. */
export function fleetPlanOf(
  plans: readonly WorkerPlan[],
  massDeleteBlocked?: Plan['massDeleteBlocked'],
): Plan {
  const sorted = [...plans].sort((a, b) => (a.worker < b.worker ? -1 : a.worker > b.worker ? 1 : 0));
  const actions = sorted.flatMap((p) => p.actions);
  const plan: Plan = { actions, converged: actions.length === 0 && !massDeleteBlocked };
  if (massDeleteBlocked) plan.massDeleteBlocked = massDeleteBlocked;
  return plan;
}

/**
 * `base` with the actions of `workers` replaced by `part`'s (a partial merge planned only those; see
 * IntakeResult.planned). Without a base, `part` alone.
 */
export function patchPlan(base: Plan | undefined, part: Plan, workers: readonly string[]): Plan {
  if (!base) return part;
  const replaced = new Set(workers);
  const actions = [...base.actions.filter((a) => !replaced.has(a.worker)), ...part.actions];
  // Stable: each worker's actions keep their order.
  actions.sort((a, b) => (a.worker < b.worker ? -1 : a.worker > b.worker ? 1 : 0));
  const plan: Plan = { actions, converged: actions.length === 0 && !part.massDeleteBlocked };
  if (part.massDeleteBlocked) plan.massDeleteBlocked = part.massDeleteBlocked;
  return plan;
}
