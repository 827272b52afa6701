/**
 * The worker phases of the guide (Configured, Testing, Updating, Working, ShutDown), which transitions
 * are legal, and the history entry each one leaves. Pure functions over WorkerStatus: callers save the
 * result. Every phase change goes through `transition` so that history always says why.
 */
import { HISTORY_LIMIT } from '../store/store.js';
import type {
  Condition,
  ConditionStatus,
  ConditionType,
  HistoryEntry,
  Phase,
  WorkerStatus,
} from '../types.js';

export const PHASES: readonly Phase[] = ['Configured', 'Testing', 'Updating', 'Working', 'ShutDown'];

/**
 * Legal phase changes. Configured and ShutDown are the resting phases; Testing and Updating are the
 * steps of a test or a session start; Working serves sessions. Any phase may fall back to Configured
 * (the VM is gone) or ShutDown (powered off, e.g. a failed test or an Immediate change).
 */
const ALLOWED: Record<Phase, readonly Phase[]> = {
  Configured: ['Testing', 'ShutDown'],
  Testing: ['Updating', 'Working', 'ShutDown', 'Configured'],
  Updating: ['Working', 'ShutDown', 'Configured'],
  Working: ['ShutDown', 'Configured', 'Testing'],
  ShutDown: ['Testing', 'Configured'],
};

/** Thrown for a phase change the lifecycle does not allow (a bug, never user input). */
export class IllegalTransitionError extends Error {
  constructor(
    readonly from: Phase,
    readonly to: Phase,
  ) {
    super(`illegal phase change ${from} -> ${to}`);
    this.name = 'IllegalTransitionError';
  }
}

/** True when `from -> to` is a legal change (staying in a phase is always legal). */
export function canTransition(from: Phase, to: Phase): boolean {
  return from === to || ALLOWED[from].includes(to);
}

/** A copy of `history` with `entry` appended, bounded to HISTORY_LIMIT (oldest dropped). */
export function appendHistory(history: HistoryEntry[], entry: HistoryEntry): HistoryEntry[] {
  const out = [...history, entry];
  return out.length > HISTORY_LIMIT ? out.slice(out.length - HISTORY_LIMIT) : out;
}

/** A copy of the status with one more history entry. */
export function withHistory(status: WorkerStatus, time: string, action: string, cause: string): WorkerStatus {
  return { ...status, history: appendHistory(status.history, { time, action, cause }) };
}

/**
 * A copy of the status in phase `to`, with a history entry `phase A -> B` and its cause. Staying in
 * the same phase changes nothing. Throws IllegalTransitionError for a change the table forbids.
 */
export function transition(status: WorkerStatus, to: Phase, cause: string, time: string): WorkerStatus {
  const from = status.phase;
  if (from === to) return status;
  if (!canTransition(from, to)) throw new IllegalTransitionError(from, to);
  return withHistory({ ...status, phase: to }, time, `phase ${from} -> ${to}`, cause);
}

/**
 * A copy of the status with condition `type` set. lastTransitionTime moves only when the status value
 * changes (as Kubernetes conditions do).
 */
export function setCondition(
  status: WorkerStatus,
  type: ConditionType,
  value: ConditionStatus,
  reason: string,
  message: string,
  time: string,
): WorkerStatus {
  const prev = status.conditions.find((c) => c.type === type);
  const next: Condition = {
    type,
    status: value,
    reason,
    message,
    lastTransitionTime: prev && prev.status === value ? prev.lastTransitionTime : time,
  };
  return { ...status, conditions: [...status.conditions.filter((c) => c.type !== type), next] };
}

/** The condition of a type, if set. */
export function getCondition(status: WorkerStatus, type: ConditionType): Condition | undefined {
  return status.conditions.find((c) => c.type === type);
}

/** A fresh status for a worker that has just been saved (phase Configured). */
export function initialStatus(): WorkerStatus {
  return { phase: 'Configured', conditions: [], observedGeneration: 0, sessions: [], history: [] };
}
