/**
 * A worker's record is kept in sections, one per writer: desired (the intake), inventory (the
 * executor), lifecycle (the lifecycle), status (the reconciler), plus the history every writer
 * appends to. Readers see one WorkerRecord composed from them here; no writer ever merges another's
 * fields. Pure.
 */
import type {
  Condition,
  ConditionType,
  LifecyclePhase,
  LifecycleState,
  ReconcileStatus,
  RestingPhase,
  WorkerRecord,
  WorkerSections,
  WorkerStatus,
} from '../types.js';

const CONDITION_ORDER: ConditionType[] = ['Ready', 'Reconciling', 'Degraded'];
const LIFECYCLE_PHASES: ReadonlySet<string> = new Set<LifecyclePhase>(['Testing', 'Updating', 'Working']);

/** The sections of a worker the intake has just added. */
export function newSections(name: string, desired: WorkerSections['desired']): WorkerSections {
  return {
    name,
    desired,
    inventory: {},
    lifecycle: { sessions: [] },
    status: { phase: 'Configured', conditions: [], observedGeneration: 0 },
    history: [],
  };
}

/**
 * Degraded as readers see it: the newer word of the reconciler (a reconcile that failed or
 * recovered) and of the lifecycle (the last test).
 */
function degraded(status: ReconcileStatus, lifecycle: LifecycleState): Condition | undefined {
  const ours = status.conditions.find((c) => c.type === 'Degraded');
  const test = lifecycle.degraded;
  if (!test) return ours;
  if (!ours) return test;
  return test.lastTransitionTime > ours.lastTransitionTime ? test : ours;
}

/** The view readers get. */
export function composeRecord(s: WorkerSections): WorkerRecord {
  const { desired, inventory, lifecycle, status } = s;
  const conditions = status.conditions.filter((c) => c.type !== 'Degraded');
  const d = degraded(status, lifecycle);
  if (d) conditions.push(d);
  conditions.sort((a, b) => CONDITION_ORDER.indexOf(a.type) - CONDITION_ORDER.indexOf(b.type));
  const view: WorkerStatus = {
    phase: lifecycle.phase ?? status.phase,
    conditions,
    observedGeneration: status.observedGeneration,
    sessions: lifecycle.sessions,
    history: s.history,
  };
  if (inventory.vmid !== undefined) {
    view.vmid = inventory.vmid;
    if (inventory.node !== undefined) view.node = inventory.node;
  }
  if (lifecycle.lastTest) view.lastTest = lifecycle.lastTest;
  const lastError = status.lastError ?? lifecycle.lastError;
  if (lastError !== undefined) view.lastError = lastError;
  const rec: WorkerRecord = { name: s.name, ...desired, ...inventory, status: view };
  if (lifecycle.wantDeployed !== undefined) rec.wantDeployed = lifecycle.wantDeployed;
  return rec;
}

/**
 * The sections of a whole record (seeding a store in tests, and the v1 -> v2 migration): each field
 * goes to the section of its writer; a lifecycle phase rests as ShutDown or Configured underneath.
 */
export function splitRecord(rec: WorkerRecord): WorkerSections {
  const st = rec.status;
  const resting: RestingPhase = LIFECYCLE_PHASES.has(st.phase)
    ? (rec.vmid ?? st.vmid) !== undefined
      ? 'ShutDown'
      : 'Configured'
    : (st.phase as RestingPhase);
  const out: WorkerSections = {
    name: rec.name,
    desired: pick(rec, ['spec', 'specHash', 'generation', 'source', 'uid', 'removeRequestedAt', 'revision']),
    inventory: pick(rec, ['vmid', 'node', 'intent', 'deployed', 'deploy', 'leftover']),
    lifecycle: { sessions: [...(st.sessions ?? [])] },
    status: {
      phase: resting,
      conditions: [...(st.conditions ?? [])],
      observedGeneration: st.observedGeneration,
    },
    history: [...(st.history ?? [])],
  };
  if (LIFECYCLE_PHASES.has(st.phase)) out.lifecycle.phase = st.phase as LifecyclePhase;
  if (st.lastTest) out.lifecycle.lastTest = st.lastTest;
  if (rec.wantDeployed !== undefined) out.lifecycle.wantDeployed = rec.wantDeployed;
  if (st.lastError !== undefined) out.status.lastError = st.lastError;
  return out;
}

function pick<T extends object, K extends keyof T>(obj: T, keys: K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}
