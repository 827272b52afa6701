/**
 * The worker phases of the guide (Configured, Testing, Updating, Working, ShutDown), which transitions
 * are legal, and the history entry each one leaves. Pure: the lifecycle writes the result
 * (lifecycle/state.ts setPhase), so that history always says why a phase changed.
 */
import type { HistoryEntry, LifecyclePhase, Phase } from '../types.js';

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

/** The phases only the lifecycle sets (the resting ones are the reconciler's). */
export const LIFECYCLE_PHASES: ReadonlySet<Phase> = new Set<LifecyclePhase>([
  'Testing',
  'Updating',
  'Working',
]);

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

/**
 * The history entry of a change from `from` to `to` with its cause; undefined when the phase stays.
 * Throws IllegalTransitionError for a change the table forbids.
 */
export function transition(from: Phase, to: Phase, cause: string, time: string): HistoryEntry | undefined {
  if (from === to) return undefined;
  if (!canTransition(from, to)) throw new IllegalTransitionError(from, to);
  return { time, action: `phase ${from} -> ${to}`, cause };
}
