/**
 * The configuration database: worker records (spec, generation, status, history, intent) and
 * sessions. Reads come from memory and return copies; durable writes resolve once on disk; status
 * writes are coalesced so a burst of updates is one file write.
 */
import { WorkerctlError } from '../errors.js';
import type { SessionRecord, WorkerRecord, WorkerStatus } from '../types.js';

export const STORE_SCHEMA_VERSION = 1;
/** Entries kept in a worker's history. */
export const HISTORY_LIMIT = 50;

export interface StoreData {
  schemaVersion: number;
  workers: Record<string, WorkerRecord>;
  sessions: Record<string, SessionRecord>;
  /** Small key/value space for controller-wide facts (e.g. last full observation). */
  meta: Record<string, unknown>;
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

  getWorker(name: string): WorkerRecord | undefined;
  listWorkers(): WorkerRecord[];
  /** Durable: resolves once written (use before a mutating Proxmox call). */
  saveWorker(record: WorkerRecord): Promise<void>;
  /**
   * Durable batch: saves every record in one write (all or none: a bad record rejects before any
   * change). A first load of a large fleet is one file write instead of one per worker.
   */
  saveWorkers(records: readonly WorkerRecord[]): Promise<void>;
  /** Coalesced: replaces the status; written with the next flush. */
  saveStatus(name: string, status: WorkerStatus): void;
  deleteWorker(name: string): Promise<void>;

  getSession(id: string): SessionRecord | undefined;
  listSessions(): SessionRecord[];
  saveSession(session: SessionRecord): Promise<void>;
  deleteSession(id: string): Promise<void>;

  getMeta<T>(key: string): T | undefined;
  setMeta(key: string, value: unknown): Promise<void>;

  /**
   * Calls fn with a worker's name after each change of its record (saved, status replaced, deleted),
   * synchronously, once the change is in memory. Returns the unsubscribe function.
   */
  onWorkerChange(fn: (name: string) => void): () => void;
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
