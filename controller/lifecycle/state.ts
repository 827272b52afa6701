/**
 * The lifecycle's writes: its own section of a worker's record (phase while it has the worker,
 * sessions, last test, its verdict on Degraded, deploy requests) and the history entries that say
 * why. Nothing else writes this section, and the lifecycle writes no other.
 */
import { isoNow, type Clock } from '../clock.js';
import { condition } from '../reconcile/status.js';
import type { Store } from '../store/store.js';
import type {
  ConditionStatus,
  HistoryEntry,
  LifecyclePhase,
  LifecycleState,
  Phase,
  WorkerRecord,
} from '../types.js';
import { UnknownWorkerError } from './errors.js';
import { LIFECYCLE_PHASES, transition } from './phases.js';

/** Adds a history entry to the write (`action`, `cause`). */
export type Note = (action: string, cause: string) => void;

/**
 * Reads the worker's lifecycle section and record, changes the section with fn and saves it with
 * the entries fn noted. Read fresh every time: the record's other sections change meanwhile.
 */
export function updateLifecycle(
  deps: { store: Store; clock: Clock },
  name: string,
  fn: (lifecycle: LifecycleState, record: WorkerRecord, note: Note) => LifecycleState,
): LifecycleState {
  const { store, clock } = deps;
  const sections = store.getSections(name);
  const rec = store.getWorker(name);
  if (!sections || !rec) throw new UnknownWorkerError(`unknown worker ${name}`);
  const history: HistoryEntry[] = [];
  const note: Note = (action, cause) => history.push({ time: isoNow(clock), action, cause });
  const next = fn(sections.lifecycle, rec, note);
  store.saveLifecycle(name, next, history);
  return next;
}

/**
 * Moves a worker to a phase (a no-op when it is already there), recording the cause. A resting
 * phase (Configured, ShutDown) hands the worker back to the reconciler's phase.
 */
export function setPhase(deps: { store: Store; clock: Clock }, name: string, to: Phase, cause: string): void {
  updateLifecycle(deps, name, (lc, rec, note) => {
    const entry = transition(rec.status.phase, to, cause, isoNow(deps.clock));
    if (!entry) return lc;
    note(entry.action, entry.cause);
    const next = { ...lc };
    if (LIFECYCLE_PHASES.has(to)) next.phase = to as LifecyclePhase;
    else delete next.phase;
    return next;
  });
}

/** The lifecycle's verdict on Degraded, relative to the Degraded readers saw. */
export function testVerdict(
  rec: WorkerRecord,
  status: ConditionStatus,
  reason: string,
  message: string,
  now: string,
) {
  const seen = rec.status.conditions.find((c) => c.type === 'Degraded');
  return condition(seen, 'Degraded', status, reason, message, now);
}
