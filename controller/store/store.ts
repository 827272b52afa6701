/**
 * The configuration database: worker records and sessions. A worker's record is kept in sections,
 * one per writer (store/sections.ts): desired (intake), inventory (executor), lifecycle (lifecycle),
 * status (reconciler), and the history they all append to; readers get one composed WorkerRecord.
 * Reads come from memory and return copies; durable writes resolve once on disk; status, lifecycle
 * and history writes are coalesced so a burst of updates is one file write.
 */
import { WorkerctlError } from '../errors.js';
import type {
  DesiredState,
  HistoryEntry,
  Inventory,
  LifecycleState,
  ReconcileStatus,
  SessionRecord,
  WorkerRecord,
  WorkerSections,
} from '../types.js';

export const STORE_SCHEMA_VERSION = 2;
/** Entries kept in a worker's history. */
export const HISTORY_LIMIT = 50;

export interface StoreData {
  schemaVersion: number;
  workers: Record<string, WorkerSections>;
  sessions: Record<string, SessionRecord>;
  /** Small key/value space for controller-wide facts (e.g. last full observation). */
  meta: Record<string, unknown>;
}

/** The part of a worker's record a change touched ('record': created, seeded or deleted whole). */
export type WorkerPart = 'desired' | 'inventory' | 'lifecycle' | 'status' | 'history' | 'record';

/** One worker's new desired state from the intake, with the history entries that say why. */
export interface DesiredChange {
  name: string;
  desired: DesiredState;
  history?: HistoryEntry[];
}

/** Where a worker's desired state came from, as cheap to list for the whole fleet as a name. */
export interface WorkerSource {
  name: string;
  /** The manifest file that declared it last (absent for a record without a source). */
  file?: string;
  /** Its removal is requested (no manifest declares it any more). */
  removeRequested: boolean;
}

export interface Store {
  /** Opened for reading only (`workerctl plan`, `status`): every write is refused. */
  readonly readOnly: boolean;
  /** Loads (and migrates) the data; takes the state directory's lock. */
  open(): Promise<void>;
  /** Flushes pending writes and releases the lock. */
  close(): Promise<void>;
  /** Resolves when every write so far is on disk. */
  flush(): Promise<void>;

  /** A worker as readers see it (its sections composed). */
  getWorker(name: string): WorkerRecord | undefined;
  listWorkers(): WorkerRecord[];
  /** Every worker's name and source file, without copying records (the intake's partial merge). */
  workerSources(): WorkerSource[];
  /** A worker's sections as stored (a writer reads its own section here). */
  getSections(name: string): WorkerSections | undefined;

  /**
   * The intake's write: the desired state of one or many workers (a worker not recorded yet is
   * added), with their history entries. Durable, in one write, all or none.
   */
  saveDesired(changes: readonly DesiredChange[]): Promise<void>;
  /** The executor's write: durable (made before a mutating Proxmox call, invariant 4). */
  saveInventory(name: string, inventory: Inventory): Promise<void>;
  /** The lifecycle's write, with its history entries. Coalesced. */
  saveLifecycle(name: string, lifecycle: LifecycleState, history?: readonly HistoryEntry[]): void;
  /** The reconciler's write at the end of a reconcile, with its history entries. Coalesced. */
  saveStatus(name: string, status: ReconcileStatus, history?: readonly HistoryEntry[]): void;
  /** History entries of any writer. Coalesced. */
  appendHistory(name: string, entries: readonly HistoryEntry[]): void;
  /** Drops a worker's record (the reconciler, once its VM is gone or orphaned). Durable. */
  deleteWorker(name: string): Promise<void>;
  /**
   * Writes every section of a whole record at once: for seeding a store (tests, imports), never for
   * the running controller, whose parts each write their own section. Durable.
   */
  seedWorker(record: WorkerRecord): Promise<void>;

  getSession(id: string): SessionRecord | undefined;
  listSessions(): SessionRecord[];
  saveSession(session: SessionRecord): Promise<void>;
  deleteSession(id: string): Promise<void>;

  getMeta<T>(key: string): T | undefined;
  setMeta(key: string, value: unknown): Promise<void>;

  /**
   * Calls fn with a worker's name and the part that changed after each change of its record,
   * synchronously, once the change is in memory. Returns the unsubscribe function.
   */
  onWorkerChange(fn: (name: string, part: WorkerPart) => void): () => void;
}

/** A write was asked of a store opened read-only (e.g. by `workerctl status` while a controller runs). */
export class StoreReadOnlyError extends WorkerctlError {}

/** The store is not open (never opened, or already closed). */
export class StoreClosedError extends WorkerctlError {}

/** Counters of a store's file writes, for tests and metrics. */
export interface StoreStats {
  /** Whole-file writes that completed. */
  writes: number;
  /** Writes that failed (the data stays in memory and is written by the next write). */
  failedWrites: number;
  /** Duration of the last completed write. */
  lastWriteMs: number;
  /** Size of the last written file. */
  lastWriteBytes: number;
}
