/**
 * The reconciler's status after a reconcile (its own section of the record): the resting phase
 * (Configured: no VM; ShutDown: deployed), conditions Ready / Reconciling / Degraded (reason,
 * message, lastTransitionTime that moves only when the status flips), observedGeneration (only when
 * Ready) and lastError. Testing, Updating and Working are the lifecycle's phases, in its own section;
 * readers see them over this one (store/sections.ts). Pure.
 */
import type { PlannedAction } from './contracts.js';
import type {
  Condition,
  ConditionStatus,
  ConditionType,
  HistoryEntry,
  ReconcileStatus,
  WorkerRecord,
} from '../types.js';

/** A condition after a change; its transition time moves only when its status does. */
export function condition(
  prev: Condition | undefined,
  type: ConditionType,
  status: ConditionStatus,
  reason: string,
  message: string,
  now: string,
): Condition {
  return {
    type,
    status,
    reason,
    message,
    lastTransitionTime: prev && prev.status === status ? prev.lastTransitionTime : now,
  };
}

/** Sets one condition; the transition time changes only when its status changes. */
export function setCondition(
  conditions: readonly Condition[],
  type: ConditionType,
  status: ConditionStatus,
  reason: string,
  message: string,
  now: string,
): Condition[] {
  const next = condition(
    conditions.find((c) => c.type === type),
    type,
    status,
    reason,
    message,
    now,
  );
  const order: ConditionType[] = ['Ready', 'Reconciling', 'Degraded'];
  return [...conditions.filter((c) => c.type !== type), next].sort(
    (a, b) => order.indexOf(a.type) - order.indexOf(b.type),
  );
}

/** How one reconcile pass ended, as the status needs it. */
export interface PassReport {
  /** The worker's VM exists (ours). */
  deployed: boolean;
  /** Actions that are still pending (waits, conflicts, refused changes). */
  pending: PlannedAction[];
  /** The error the pass ended with, if any. */
  error?: { message: string; terminal: boolean; reason: string };
  /** What was done this pass. */
  history: HistoryEntry[];
}

/**
 * The reconciler's status after a reconcile of `record` that ended with `outcome`, from its own
 * previous status `prev`. (The pass's history goes with it to the store, beside it.)
 */
export function computeStatus(
  record: WorkerRecord,
  outcome: PassReport,
  now: string,
  prev: ReconcileStatus,
): ReconcileStatus {
  const status: ReconcileStatus = {
    ...prev,
    phase: outcome.deployed ? 'ShutDown' : 'Configured',
    conditions: [...prev.conditions],
  };

  const conflict = outcome.pending.find((a) => a.kind === 'conflict');
  const refused = outcome.pending.find((a) => a.blockedBy && a.kind !== 'wait' && a.kind !== 'conflict');
  const waiting = outcome.pending.find((a) => a.kind === 'wait');
  let c = status.conditions;
  const err = outcome.error;
  if (err) {
    status.lastError = err.message;
    c = setCondition(c, 'Ready', 'False', err.reason, err.message, now);
    c = err.terminal
      ? setCondition(c, 'Reconciling', 'False', err.reason, 'stopped retrying until the spec changes', now)
      : setCondition(c, 'Reconciling', 'True', 'Retrying', `will retry: ${err.message}`, now);
    c = setCondition(c, 'Degraded', 'True', err.reason, err.message, now);
  } else if (conflict || refused) {
    const a = (conflict ?? refused)!;
    const reason = conflict ? 'Conflict' : (a.blockedBy!.split(':')[0] ?? 'Refused');
    // A refusal's blockedBy says what to do about it ("DiskShrinkRefused: keep diskGiB or redeploy").
    const fix = conflict ? '' : a.blockedBy!.slice(reason.length + 1).trim();
    const message = fix ? `${a.reason}: ${fix}` : a.reason;
    c = setCondition(c, 'Ready', 'False', reason, a.reason, now);
    c = setCondition(c, 'Reconciling', 'False', reason, a.blockedBy ?? a.reason, now);
    c = setCondition(c, 'Degraded', 'True', reason, message, now);
  } else if (waiting) {
    c = setCondition(
      c,
      'Ready',
      'False',
      'Waiting',
      `${waiting.reason}: ${waiting.blockedBy ?? ''}`.trim(),
      now,
    );
    c = setCondition(c, 'Reconciling', 'True', 'Waiting', waiting.blockedBy ?? waiting.reason, now);
    c = setCondition(c, 'Degraded', 'False', 'AsExpected', '', now);
  } else {
    const msg = outcome.deployed
      ? `vm ${record.vmid} matches generation ${record.generation}`
      : 'saved, no vm wanted yet';
    c = setCondition(c, 'Ready', 'True', 'Converged', msg, now);
    c = setCondition(c, 'Reconciling', 'False', 'Converged', '', now);
    c = setCondition(c, 'Degraded', 'False', 'AsExpected', '', now);
    status.observedGeneration = record.generation;
    delete status.lastError;
  }
  status.conditions = c;
  return status;
}
