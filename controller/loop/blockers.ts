/**
 * What only a person can fix. A plan that is not converged either still progresses (a clone runs, a
 * change waits for sessions to end, a locked VM unlocks, an error is retried) or is blocked: a
 * foreign VM clashes (invariant 3), the mass-delete guard holds deletions back (invariant 2), a
 * manifest is invalid (invariant 1), a disk would have to shrink, or a reconcile failed terminally
 * (a missing template, a request Proxmox refuses). `apply --wait` stops waiting once nothing
 * progresses any more, and `plan` exits 1 when anything is blocked: both name each blocker with its
 * reason and what to do. Pure.
 */
import type { PlannedAction, Plan } from '../reconcile/contracts.js';
import type { Diagnostic, WorkerRecord } from '../types.js';
import { conditionOf } from './snapshot.js';

export interface Blocker {
  /** The worker, or undefined for the whole fleet (mass-delete guard, an invalid manifest file). */
  worker?: string;
  /** A short stable word: Conflict, MassDeleteGuard, InvalidManifest, TemplateNotFound, ... */
  reason: string;
  /** What is wrong, in words. */
  message: string;
  /** What a person does about it. */
  fix: string;
}

export interface BlockerReport {
  blocked: Blocker[];
  /** Workers with work that goes on by itself. */
  progressing: string[];
}

export interface BlockerOptions {
  /** The records (the plan's workers): their source for fixes, and their status (useStatus). */
  records?: readonly WorkerRecord[];
  /**
   * Count a reconcile that stopped for good (Ready and Reconciling both False: a terminal error, a
   * conflict found while executing) as blocked. Only after this process reconciled every worker
   * (apply --wait): a plan's records may carry an older verdict.
   */
  useStatus?: boolean;
  /** Error diagnostics of the last load (invalid manifest files). */
  diagnostics?: readonly Diagnostic[];
  /** How a manifest path is shown (default as is). */
  display?: (file: string) => string;
}

/** True when nothing goes on by itself and something waits for a person. */
export function isStuck(report: BlockerReport): boolean {
  return report.progressing.length === 0 && report.blocked.length > 0;
}

/** Sorts the plan's unfinished work into what progresses and what is blocked. */
export function findBlockers(plan: Plan, opts: BlockerOptions = {}): BlockerReport {
  const show = opts.display ?? ((f: string) => f);
  const records = new Map((opts.records ?? []).map((r) => [r.name, r]));
  const where = (name: string): string => {
    const src = records.get(name)?.source;
    return src ? ` (${show(src.file)}:${src.line})` : '';
  };
  const blocked: Blocker[] = [];
  const progressing = new Set<string>();
  const byWorker = new Map<string, PlannedAction[]>();
  for (const a of plan.actions) byWorker.set(a.worker, [...(byWorker.get(a.worker) ?? []), a]);

  const stopped = (name: string): Blocker | undefined => {
    const rec = records.get(name);
    if (!opts.useStatus || !rec) return undefined;
    const ready = conditionOf(rec, 'Ready');
    const reconciling = conditionOf(rec, 'Reconciling');
    if (ready?.status !== 'False' || reconciling?.status !== 'False') return undefined;
    const message = rec.status.lastError ?? ready.message;
    return { worker: name, reason: ready.reason, message, fix: statusFix(rec, ready.reason, where(name)) };
  };

  for (const [name, actions] of byWorker) {
    const stuck = actions.filter((a) => a.kind === 'conflict' || (a.blockedBy && a.kind !== 'wait'));
    for (const a of stuck) blocked.push(actionBlocker(a, where(name)));
    if (stuck.length === actions.length) continue;
    // The plan still has work for it, but its last reconcile stopped for good (a missing template).
    const verdict = stuck.length === 0 ? stopped(name) : undefined;
    if (verdict) blocked.push(verdict);
    else progressing.add(name);
  }
  // A worker with nothing planned that stopped anyway (e.g. a terminal error before its plan formed).
  for (const name of records.keys()) {
    if (byWorker.has(name)) continue;
    const verdict = stopped(name);
    if (verdict && !plan.converged) blocked.push(verdict);
  }
  if (plan.massDeleteBlocked) {
    const m = plan.massDeleteBlocked;
    blocked.push({
      reason: 'MassDeleteGuard',
      message: `${m.wouldDelete} of ${m.of} workers would be deleted (${m.threshold})`,
      fix: 'restore the manifests (an emptied or wrong -f directory?), or rerun with --allow-mass-delete to delete them',
    });
  }
  const seen = new Set<string>();
  for (const d of opts.diagnostics ?? []) {
    if (d.severity !== 'error' || seen.has(d.file)) continue;
    seen.add(d.file);
    blocked.push({
      reason: 'InvalidManifest',
      message: `${show(d.file)}:${d.line}:${d.col}: ${d.message}`,
      fix: `fix the file (workerctl validate ${show(d.file)}); until then its workers keep their last valid spec`,
    });
  }
  return { blocked, progressing: [...progressing].sort() };
}

function actionBlocker(a: PlannedAction, where: string): Blocker {
  if (a.kind === 'conflict') {
    const c = a.conflict;
    const fix = !c
      ? 'find out whose the vm is; workerctl never changes a vm that is not its own'
      : c.kind === 'name' && c.tagged
        ? `vm ${c.vmid} carries the workerctl tag: if the state directory was lost, rebuild its records with workerctl recover; else rename or remove the vm`
        : c.kind === 'name'
          ? `rename or remove vm ${c.vmid} on ${c.node}, or, if it is this worker's vm, take it over: workerctl adopt ${a.worker} --vmid ${c.vmid}`
          : `vm ${c.vmid} at the recorded vmid is not this worker's: if the state directory was lost, rebuild it with workerctl recover; else remove the record's vm from Proxmox by hand`;
    return { worker: a.worker, reason: 'Conflict', message: a.reason, fix };
  }
  // A refusal's blockedBy is "Code: what is wrong and what to change" (plan.ts, deploy-path.ts).
  const by = a.blockedBy ?? '';
  const reason = by.split(':')[0]?.trim() || 'Refused';
  const said = by.slice(reason.length + 1).trim();
  if (reason === 'DiskShrinkRefused') {
    const fix = `keep spec.diskGiB at the disk's size or more${where} (a disk cannot shrink), or redeploy the worker`;
    return { worker: a.worker, reason, message: a.reason, fix };
  }
  const fix =
    reason === 'TemplateNotFound'
      ? `create the template in the cluster, or change spec.template${where}`
      : `change the manifest${where}, or the cluster, as said`;
  return { worker: a.worker, reason, message: said || a.reason, fix };
}

function statusFix(rec: WorkerRecord, reason: string, where: string): string {
  switch (reason) {
    case 'TemplateNotFound':
      return `create the template ${rec.spec.template} in the cluster, or change spec.template${where}`;
    case 'InvalidRequest':
      return `Proxmox refused the request: change the spec${where} so that it is accepted`;
    case 'Conflict':
      return 'find out whose the vm is; workerctl never changes a vm that is not its own';
    default:
      return `fix what the error names${where}; the worker is tried again when its spec changes or on the next apply`;
  }
}
