/**
 * The state of one reconcile of one worker: its record as read, with the inventory this run owns
 * (vmid, node, intent, deployed: the executor's section), the history written this pass, and the
 * logger. persist() writes the inventory section, and only it: the desired state, the lifecycle and
 * the status are other writers' sections, read fresh by refresh() and never merged.
 */
import { isoNow, type Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { HistoryEntry, Inventory, WorkerRecord } from '../types.js';

const INVENTORY_KEYS = ['vmid', 'node', 'intent', 'deployed', 'deploy', 'leftover'] as const;

/** The inventory fields of a record. */
export function inventoryOf(rec: WorkerRecord): Inventory {
  const inv: Inventory = {};
  for (const key of INVENTORY_KEYS)
    if (rec[key] !== undefined) (inv as Record<string, unknown>)[key] = rec[key];
  return inv;
}

/** `rec` with its inventory fields replaced by `inv`. */
export function withInventory(rec: WorkerRecord, inv: Inventory): WorkerRecord {
  const out: WorkerRecord = { ...rec };
  for (const key of INVENTORY_KEYS) {
    if (inv[key] === undefined) delete out[key];
    else (out as unknown as Record<string, unknown>)[key] = inv[key];
  }
  return out;
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

  /** Reads the record again (what other writers changed meanwhile), keeping this run's inventory. */
  refresh(): WorkerRecord {
    const stored = this.store.getWorker(this.name);
    if (stored) this.rec = withInventory(stored, inventoryOf(this.rec));
    return this.rec;
  }

  /** Saves this run's inventory durably (before a mutating call: invariant 4). */
  async persist(): Promise<void> {
    await this.store.saveInventory(this.name, inventoryOf(this.rec));
  }

  /** Adds a history entry for this pass. */
  note(action: string, cause: string): void {
    this.history.push({ time: isoNow(this.clock), action, cause });
  }

  /**
   * Appends this pass's history to the record, for work outside a reconcile (power for the
   * lifecycle); a reconcile writes its history with the status it computes.
   */
  flushHistory(): void {
    if (this.history.length > 0) this.store.appendHistory(this.name, this.history.splice(0));
  }

  /**
   * Drops the record once its VM is gone or orphaned, unless the worker was declared again while it
   * was being removed (a file restored meanwhile, issue 11 point 6): then only the inventory goes
   * (the VM is gone), and the reconcile goes on to deploy it anew. The check and the write happen in
   * one synchronous step, so no intake write comes between them. Resolves true when dropped.
   */
  async drop(cause: string): Promise<boolean> {
    const current = this.store.getWorker(this.name);
    if (current && current.removeRequestedAt === undefined) {
      this.rec = { ...this.rec, vmid: undefined, node: undefined, deployed: undefined, intent: undefined };
      const saved = this.persist();
      this.note(cause, 'the worker was declared again meanwhile: it stays, without that vm');
      await saved;
      return false;
    }
    await this.store.deleteWorker(this.name);
    this.dropped = true;
    return true;
  }
}
