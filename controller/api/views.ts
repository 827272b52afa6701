/** What the API shows of workers and sessions: plain JSON, secrets masked (invariant 5). */
import { isReady } from '../loop/snapshot.js';
import { redact } from '../redact.js';
import type { HistoryEntry, SessionRecord, WorkerRecord } from '../types.js';

export interface WorkerSummary {
  name: string;
  host: string;
  enabled: boolean;
  deploy: string;
  applyChanges: string;
  updates: boolean;
  maxConcurrentTasks: number;
  phase: string;
  vmid?: number;
  node?: string;
  sessions: string[];
  conditions: WorkerRecord['status']['conditions'];
  lastTest?: WorkerRecord['status']['lastTest'];
  lastError?: string;
  generation: number;
  observedGeneration: number;
  labels: Record<string, string>;
  /** Ready=True for the current generation. */
  ready: boolean;
  /** The newest history entry. */
  lastAction?: HistoryEntry;
}

/** A worker as listed by GET /v1/workers. */
export function workerSummary(rec: WorkerRecord): WorkerSummary {
  return redact({
    name: rec.name,
    host: rec.spec.host,
    enabled: rec.spec.enabled,
    deploy: rec.spec.deploy,
    applyChanges: rec.spec.applyChanges,
    updates: rec.spec.updates.enabled,
    maxConcurrentTasks: rec.spec.maxConcurrentTasks,
    phase: rec.status.phase,
    vmid: rec.status.vmid ?? rec.vmid,
    node: rec.status.node ?? rec.node,
    sessions: rec.status.sessions,
    conditions: rec.status.conditions,
    lastTest: rec.status.lastTest,
    lastError: rec.status.lastError,
    generation: rec.generation,
    observedGeneration: rec.status.observedGeneration,
    labels: rec.spec.labels,
    ready: isReady(rec),
    lastAction: rec.status.history.at(-1),
  });
}

/** A worker with its spec and history, for GET /v1/workers/NAME. */
export function workerDetail(rec: WorkerRecord) {
  return redact({ ...workerSummary(rec), spec: rec.spec, source: rec.source, history: rec.status.history });
}

/** A session as the API shows it. */
export function sessionView(s: SessionRecord) {
  return redact({ ...s, state: s.state ?? 'starting' });
}
