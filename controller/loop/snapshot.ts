/**
 * What the controller looks like from outside at one moment: the workers as recorded, the queue, the
 * last manifest load. The live view draws it; the HTTP API's metrics read the queue from it.
 */
import type { Condition, WorkerRecord } from '../types.js';

export interface LoadSummary {
  /** ISO time of the load. */
  at: string;
  files: number;
  workers: number;
  invalidFiles: string[];
  errors: number;
  warnings: number;
  /** Set when the mass-delete guard held deletions back. */
  massDeleteBlocked?: { wouldDelete: number; of: number; threshold: string };
  /** The Git commit the manifests were read at, when they are in a Git checkout. */
  revision?: string;
}

export interface QueueSummary {
  /** Keys waiting to be picked up. */
  ready: number;
  /** Keys being reconciled now. */
  processing: string[];
}

export interface ControllerSnapshot {
  /** ISO time the controller started. */
  startedAt: string;
  workers: WorkerRecord[];
  queue: QueueSummary;
  lastLoad?: LoadSummary;
  /** ms since epoch of the next full resync, when one is scheduled. */
  nextResyncAt?: number;
  /** Reconciles done since start, and how many failed. */
  reconciles: number;
  failures: number;
  stopping: boolean;
}

/** The named condition of a record, if present. */
export function conditionOf(record: WorkerRecord, type: Condition['type']): Condition | undefined {
  return record.status.conditions.find((c) => c.type === type);
}

/** True when the worker reports Ready=True for its current generation. */
export function isReady(record: WorkerRecord): boolean {
  const ready = conditionOf(record, 'Ready');
  return ready?.status === 'True' && record.status.observedGeneration >= record.generation;
}

/** The last thing done to a worker, or its last error, in a few words. */
export function lastActivity(record: WorkerRecord): string {
  if (record.status.lastError && !isReady(record)) return `error: ${record.status.lastError}`;
  const last = record.status.history.at(-1);
  if (last) return last.cause ? `${last.action} (${last.cause})` : last.action;
  const reconciling = conditionOf(record, 'Reconciling');
  if (reconciling?.status === 'True') return reconciling.message || reconciling.reason;
  return '';
}
