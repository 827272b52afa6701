/**
 * What the store does to every value before keeping it: a deep copy (callers never share objects with
 * the live data), secret-looking text masked (invariant 5, defensive: specs hold no secrets by design,
 * but an error message from a failed call might), and history bounded.
 */
import { redactText } from '../redact.js';
import type { SessionRecord, WorkerRecord, WorkerStatus } from '../types.js';
import { HISTORY_LIMIT } from './store.js';

/**
 * Deep copy with every string passed through redactText. Unlike redact(), keys are not masked by name:
 * a spec's `passwordFile` is a path, not a secret. Drops undefined object fields, as JSON does, so
 * memory and file agree.
 */
export function maskStrings<T>(value: T): T {
  if (typeof value === 'string') return redactText(value) as T;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v: unknown) => maskStrings(v)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== undefined) out[k] = maskStrings(v);
  }
  return out as T;
}

/** Keeps the newest HISTORY_LIMIT entries (history is newest last). */
export function trimHistory(status: WorkerStatus, limit = HISTORY_LIMIT): WorkerStatus {
  if (status.history.length > limit) status.history = status.history.slice(-limit);
  return status;
}

/** A status as the store keeps it. */
export function sanitizeStatus(status: WorkerStatus): WorkerStatus {
  return normalizeStatus(maskStrings(status));
}

function normalizeStatus(status: WorkerStatus): WorkerStatus {
  if (!Array.isArray(status.history)) status.history = [];
  if (!Array.isArray(status.sessions)) status.sessions = [];
  return trimHistory(status);
}

/** A worker record as the store keeps it. */
export function sanitizeRecord(record: WorkerRecord): WorkerRecord {
  const copy = maskStrings(record);
  copy.status = normalizeStatus(copy.status);
  return copy;
}

/** A session as the store keeps it. */
export function sanitizeSession(session: SessionRecord): SessionRecord {
  return maskStrings(session);
}
