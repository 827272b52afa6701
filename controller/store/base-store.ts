/**
 * The Store semantics shared by LowdbStore and MemoryStore: data lives in memory; reads return deep
 * copies; every saved value is copied, masked and bounded first; writes go through one WriteBatcher
 * (durable writes resolve once persisted, status updates are coalesced). Subclasses only say how the
 * data is loaded, persisted and released.
 */
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { WorkerctlError } from '../errors.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import type { SessionRecord, WorkerRecord, WorkerStatus } from '../types.js';
import { emptyStoreData } from './schema.js';
import { sanitizeRecord, sanitizeSession, sanitizeStatus, maskStrings } from './sanitize.js';
import { StoreClosedError, StoreReadOnlyError } from './store.js';
import type { Store, StoreData, StoreStats } from './store.js';
import { WriteBatcher } from './write-batcher.js';

/** Default coalescing window of status writes. */
export const DEFAULT_COALESCE_MS = 50;

export interface BaseStoreOptions {
  clock?: Clock;
  logger?: Logger;
  /** Status updates within this window become one write (default 50 ms). */
  coalesceMs?: number;
  /** Refuse every write; take no lock (for status and plan while a controller runs). */
  readOnly?: boolean;
}

type State = 'new' | 'open' | 'closed';

export abstract class BaseStore implements Store {
  protected readonly clock: Clock;
  protected readonly log: Logger;
  readonly readOnly: boolean;
  protected data: StoreData = emptyStoreData();
  #state: State = 'new';
  readonly #coalesceMs: number;
  #batcher: WriteBatcher;
  #stats: StoreStats = { writes: 0, failedWrites: 0, lastWriteMs: 0, lastWriteBytes: 0 };
  /** Set when the store can no longer write (lock lost): every write rejects with it. */
  #fatal: Error | undefined;
  readonly #listeners = new Set<(name: string) => void>();

  constructor(options: BaseStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? silentLogger();
    this.readOnly = options.readOnly ?? false;
    this.#coalesceMs = options.coalesceMs ?? DEFAULT_COALESCE_MS;
    this.#batcher = this.#newBatcher();
  }

  #newBatcher(): WriteBatcher {
    return new WriteBatcher(() => this.#persist(), {
      clock: this.clock,
      coalesceMs: this.#coalesceMs,
      logger: this.log,
    });
  }

  /** Human name of where the data lives, for messages. */
  abstract get location(): string;
  /** Loads (and migrates) the data, taking whatever lock the backend needs. */
  protected abstract load(): Promise<StoreData>;
  /** Persists the data: must serialise it before its first await. Returns the bytes written. */
  protected abstract persist(data: StoreData): Promise<number>;
  /** Releases what load took. */
  protected abstract release(): Promise<void>;

  /** Counters of completed and failed writes. */
  stats(): StoreStats {
    return { ...this.#stats };
  }

  get isOpen(): boolean {
    return this.#state === 'open';
  }

  async open(): Promise<void> {
    if (this.#state === 'open') return;
    this.data = await this.load();
    this.#fatal = undefined;
    this.#batcher = this.#newBatcher();
    this.#state = 'open';
  }

  async flush(): Promise<void> {
    if (this.#state !== 'open' || this.readOnly) return;
    await this.#batcher.flush();
  }

  async close(): Promise<void> {
    if (this.#state !== 'open') return;
    try {
      if (!this.readOnly && !this.#fatal) await this.#batcher.flush();
    } finally {
      this.#batcher.stop();
      this.#state = 'closed';
      await this.release();
    }
  }

  // ---------- workers ----------

  getWorker(name: string): WorkerRecord | undefined {
    const rec = this.#readable().workers[name];
    return rec && structuredClone(rec);
  }

  listWorkers(): WorkerRecord[] {
    const workers = this.#readable().workers;
    return Object.keys(workers)
      .sort()
      .map((name) => structuredClone(workers[name]!));
  }

  saveWorker(record: WorkerRecord): Promise<void> {
    return this.#durable(() => {
      requireKey(record?.name, 'worker name');
      this.data.workers[record.name] = sanitizeRecord(record);
    }, [record?.name]);
  }

  saveWorkers(records: readonly WorkerRecord[]): Promise<void> {
    if (records.length === 0) {
      try {
        this.#writable();
      } catch (err) {
        return Promise.reject(err);
      }
      return Promise.resolve();
    }
    return this.#durable(
      () => {
        // Sanitise (and check) all first, so a bad record changes nothing.
        const clean = records.map((record) => {
          requireKey(record?.name, 'worker name');
          return sanitizeRecord(record);
        });
        for (const rec of clean) this.data.workers[rec.name] = rec;
      },
      records.map((r) => r?.name),
    );
  }

  saveStatus(name: string, status: WorkerStatus): void {
    this.#writable();
    const rec = this.data.workers[name];
    if (!rec) {
      // A reconcile that finished after its worker was deleted: the status has no home any more.
      this.log.warn('status dropped for a worker not in the store', { worker: name });
      return;
    }
    rec.status = sanitizeStatus(status);
    this.#batcher.markDirty();
    this.#changed([name]);
  }

  deleteWorker(name: string): Promise<void> {
    return this.#durable(() => {
      delete this.data.workers[name];
    }, [name]);
  }

  onWorkerChange(fn: (name: string) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #changed(names: readonly (string | undefined)[]): void {
    for (const name of names) {
      if (name === undefined) continue;
      for (const fn of this.#listeners) {
        try {
          fn(name);
        } catch (err) {
          this.log.warn('worker change listener failed', { worker: name, err });
        }
      }
    }
  }

  // ---------- sessions ----------

  getSession(id: string): SessionRecord | undefined {
    const s = this.#readable().sessions[id];
    return s && structuredClone(s);
  }

  listSessions(): SessionRecord[] {
    return Object.values(this.#readable().sessions)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id))
      .map((s) => structuredClone(s));
  }

  saveSession(session: SessionRecord): Promise<void> {
    return this.#durable(() => {
      requireKey(session?.id, 'session id');
      this.data.sessions[session.id] = sanitizeSession(session);
    });
  }

  deleteSession(id: string): Promise<void> {
    return this.#durable(() => {
      delete this.data.sessions[id];
    });
  }

  // ---------- meta ----------

  getMeta<T>(key: string): T | undefined {
    const v = this.#readable().meta[key];
    return v === undefined ? undefined : (structuredClone(v) as T);
  }

  setMeta(key: string, value: unknown): Promise<void> {
    return this.#durable(() => {
      requireKey(key, 'meta key');
      if (value === undefined) delete this.data.meta[key];
      else this.data.meta[key] = maskStrings(value);
    });
  }

  // ---------- internals ----------

  /** Marks the store unable to write (e.g. its lock was taken over); writes reject with err from now on. */
  protected fail(err: Error): void {
    this.#fatal = err;
    this.#batcher.stop();
  }

  #readable(): StoreData {
    if (this.#state !== 'open') {
      throw new StoreClosedError(
        `store ${this.location} is ${this.#state === 'new' ? 'not open' : 'closed'}`,
      );
    }
    return this.data;
  }

  #writable(): void {
    this.#readable();
    if (this.readOnly) {
      throw new StoreReadOnlyError(`store ${this.location} was opened read-only; the change was not made`);
    }
    if (this.#fatal) throw this.#fatal;
  }

  /** Applies a change in memory (telling the listeners of `workers`), then resolves once it is persisted. */
  #durable(change: () => void, workers: readonly (string | undefined)[] = []): Promise<void> {
    try {
      this.#writable();
      change();
    } catch (err) {
      return Promise.reject(err);
    }
    const written = this.#batcher.writeNow();
    this.#changed(workers);
    return written;
  }

  async #persist(): Promise<void> {
    if (this.#fatal) throw this.#fatal;
    const started = performance.now();
    try {
      const bytes = await this.persist(this.data);
      this.#stats.writes++;
      this.#stats.lastWriteBytes = bytes;
      this.#stats.lastWriteMs = performance.now() - started;
    } catch (err) {
      this.#stats.failedWrites++;
      throw err;
    }
  }
}

function requireKey(value: unknown, what: string): void {
  if (typeof value !== 'string' || value === '') {
    throw new WorkerctlError(`cannot save: ${what} must be a non-empty string, got ${JSON.stringify(value)}`);
  }
}
