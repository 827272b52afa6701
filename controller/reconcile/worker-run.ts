/**
 * The state of one reconcile of one worker: its record (merged with concurrent writers before every
 * save), the history written this pass, and the logger. Every durable save goes through persist().
 */
import { isoNow, type Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { HistoryEntry, WorkerRecord } from '../types.js';
import { LIFECYCLE_PHASES } from './status.js';

/**
 * Combines our copy of a record with the stored one: the desired state (spec, generation, removal,
 * wantDeployed) and the lifecycle's fields (sessions, last test, lifecycle phases) come from the
 * store, since applyDesired and the lifecycle write them while a reconcile runs (history too: this
 * run's entries are added once, with the final status); the VM facts (vmid, node, intent,
 * deployed) are ours.
 */
export function mergeRecord(ours: WorkerRecord, stored: WorkerRecord | undefined): WorkerRecord {
  if (!stored) return ours;
  const status = { ...ours.status, sessions: stored.status.sessions, history: stored.status.history };
  if (stored.status.lastTest) status.lastTest = stored.status.lastTest;
  if (LIFECYCLE_PHASES.has(stored.status.phase) || LIFECYCLE_PHASES.has(ours.status.phase)) {
    status.phase = stored.status.phase;
  }
  const merged: WorkerRecord = { ...stored, status };
  for (const key of ['vmid', 'node', 'intent', 'deployed'] as const) {
    if (ours[key] === undefined) delete merged[key];
    else (merged as unknown as Record<string, unknown>)[key] = ours[key];
  }
  return merged;
}

/**
 * The reverse, for applyDesired: the desired-state fields of `next` (a merge computed from an
 * earlier snapshot) laid over the record as stored now, so an intent or vmid a reconcile saved in
 * between is never lost (invariant 4). History entries the merge added are appended.
 */
export function withDesiredFields(
  next: WorkerRecord,
  snapshot: WorkerRecord | undefined,
  stored: WorkerRecord | undefined,
): WorkerRecord {
  if (!stored || !snapshot) return next;
  const added = next.status.history.slice(snapshot.status.history.length);
  const merged: WorkerRecord = {
    ...stored,
    spec: next.spec,
    specHash: next.specHash,
    generation: next.generation,
    uid: stored.uid ?? next.uid,
    status: { ...stored.status, history: [...stored.status.history, ...added] },
  };
  if (next.source) merged.source = next.source;
  if (next.removeRequestedAt !== undefined) merged.removeRequestedAt = next.removeRequestedAt;
  else delete merged.removeRequestedAt;
  return merged;
}

export class WorkerRun {
  rec: WorkerRecord;
  readonly history: HistoryEntry[] = [];
  /** The record was dropped (forget, delete, orphan): no status to write. */
  dropped = false;

  constructor(
    rec: WorkerRecord,
    readonly store: Store,
    readonly clock: Clock,
    readonly log: Logger,
  ) {
    this.rec = rec;
  }

  get name(): string {
    return this.rec.name;
  }

  /** Re-reads the stored record and merges it into ours. */
  refresh(): WorkerRecord {
    this.rec = mergeRecord(this.rec, this.store.getWorker(this.name));
    return this.rec;
  }

  /** Saves the record durably (after merging concurrent writes). */
  async persist(): Promise<void> {
    this.refresh();
    await this.store.saveWorker(this.rec);
  }

  /** Adds a history entry for this pass. */
  note(action: string, cause: string): void {
    this.history.push({ time: isoNow(this.clock), action, cause });
  }

  /**
   * Appends this pass's history to the stored status, for work outside a reconcile (power for the
   * lifecycle); a reconcile writes its history with the status it computes.
   */
  flushHistory(): void {
    const rec = this.store.getWorker(this.name);
    if (!rec || this.history.length === 0) return;
    const added = this.history.splice(0);
    this.store.saveStatus(this.name, { ...rec.status, history: [...rec.status.history, ...added] });
  }

  async drop(): Promise<void> {
    await this.store.deleteWorker(this.name);
    this.dropped = true;
  }
}
