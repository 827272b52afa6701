/**
 * What the store does to every value before keeping it: a deep copy (callers never share objects with
 * the live data), secret-looking text masked (invariant 5, defensive: specs hold no secrets by design,
 * but an error message from a failed call might), and history bounded.
 */
import { redactText } from '../redact.js';
import type { HistoryEntry, SessionRecord, WorkerSections } from '../types.js';
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

/** Appends entries to a record's history, keeping the newest HISTORY_LIMIT (history is newest last). */
export function appendTo(rec: WorkerSections, entries: readonly HistoryEntry[], limit = HISTORY_LIMIT): void {
  if (entries.length > 0) rec.history.push(...entries);
  if (rec.history.length > limit) rec.history = rec.history.slice(-limit);
}

/** A worker's sections as the store keeps them. */
export function sanitizeSections(sections: WorkerSections): WorkerSections {
  const copy = maskStrings(sections);
  if (!Array.isArray(copy.history)) copy.history = [];
  if (!Array.isArray(copy.lifecycle?.sessions)) copy.lifecycle = { ...copy.lifecycle, sessions: [] };
  appendTo(copy, []);
  return copy;
}

/** A session as the store keeps it. */
export function sanitizeSession(session: SessionRecord): SessionRecord {
  return maskStrings(session);
}
