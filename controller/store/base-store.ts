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
import type {
  HistoryEntry,
  Inventory,
  LifecycleState,
  ReconcileStatus,
  SessionRecord,
  WorkerRecord,
  WorkerSections,
} from '../types.js';
import { emptyStoreData } from './schema.js';
import { appendTo, maskStrings, sanitizeSections, sanitizeSession } from './sanitize.js';
import { DatabaseText } from './database-text.js';
import { composeRecord, newSections, splitRecord } from './sections.js';
import { StoreClosedError, StoreReadOnlyError } from './store.js';
import type { DesiredChange, Store, StoreData, StoreStats, WorkerPart, WorkerSource } from './store.js';
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
  readonly #listeners = new Set<(name: string, part: WorkerPart) => void>();
  /** The file's text, each worker's part serialised again only after it changed. */
  readonly #text = new DatabaseText();

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
  /**
   * Persists the data: must serialise it (with `serialize`) before its first await. Returns the bytes
   * written.
   */
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
    const rec = own(this.#readable().workers, name);
    return rec && composeRecord(structuredClone(rec));
  }

  listWorkers(): WorkerRecord[] {
    const workers = this.#readable().workers;
    return Object.keys(workers)
      .sort()
      .map((name) => composeRecord(structuredClone(workers[name]!)));
  }

  workerSources(): WorkerSource[] {
    const workers = this.#readable().workers;
    return Object.keys(workers).map((name) => {
      const d = workers[name]!.desired;
      const out: WorkerSource = { name, removeRequested: d.removeRequestedAt !== undefined };
      if (d.source?.file !== undefined) out.file = d.source.file;
      return out;
    });
  }

  getSections(name: string): WorkerSections | undefined {
    const rec = own(this.#readable().workers, name);
    return rec && structuredClone(rec);
  }

  saveDesired(changes: readonly DesiredChange[]): Promise<void> {
    if (changes.length === 0) {
      try {
        this.#writable();
      } catch (err) {
        return Promise.reject(err);
      }
      return Promise.resolve();
    }
    return this.#durable(
      () => {
        // Sanitise (and check) all first, so a bad change changes nothing.
        const clean = changes.map((c) => {
          requireKey(c?.name, 'worker name');
          return { name: c.name, desired: maskStrings(c.desired), history: maskStrings(c.history ?? []) };
        });
        for (const c of clean) {
          const rec =
            own(this.data.workers, c.name) ?? (this.data.workers[c.name] = newSections(c.name, c.desired));
          rec.desired = c.desired;
          appendTo(rec, c.history);
        }
      },
      changes.map((c) => c?.name),
      'desired',
    );
  }

  saveInventory(name: string, inventory: Inventory): Promise<void> {
    return this.#durable(
      () => {
        const rec = this.#section(name, 'inventory');
        if (rec) rec.inventory = maskStrings(inventory);
      },
      [name],
      'inventory',
    );
  }

  saveLifecycle(name: string, lifecycle: LifecycleState, history: readonly HistoryEntry[] = []): void {
    this.#writable();
    const rec = this.#section(name, 'lifecycle');
    if (!rec) return;
    rec.lifecycle = maskStrings(lifecycle);
    appendTo(rec, maskStrings(history));
    this.#text.changed([name]);
    this.#batcher.markDirty();
    this.#changed([name], 'lifecycle');
  }

  saveStatus(name: string, status: ReconcileStatus, history: readonly HistoryEntry[] = []): void {
    this.#writable();
    const rec = this.#section(name, 'status');
    if (!rec) return;
    rec.status = maskStrings(status);
    appendTo(rec, maskStrings(history));
    this.#text.changed([name]);
    this.#batcher.markDirty();
    this.#changed([name], 'status');
  }

  appendHistory(name: string, entries: readonly HistoryEntry[]): void {
    this.#writable();
    const rec = this.#section(name, 'history');
    if (!rec || entries.length === 0) return;
    appendTo(rec, maskStrings(entries));
    this.#text.changed([name]);
    this.#batcher.markDirty();
    this.#changed([name], 'history');
  }

  seedWorker(record: WorkerRecord): Promise<void> {
    return this.#durable(
      () => {
        requireKey(record?.name, 'worker name');
        this.data.workers[record.name] = sanitizeSections(splitRecord(record));
      },
      [record?.name],
      'record',
    );
  }

  deleteWorker(name: string): Promise<void> {
    return this.#durable(
      () => {
        delete this.data.workers[name];
      },
      [name],
      'record',
    );
  }

  /** The live record whose section `part` is about to be replaced; undefined (logged) when it is gone. */
  #section(name: string, part: WorkerPart): WorkerSections | undefined {
    const rec = own(this.data.workers, name);
    // E.g. a reconcile that finished after its worker was deleted: the section has no home any more.
    if (!rec) this.log.warn('write dropped for a worker not in the store', { worker: name, part });
    return rec;
  }

  onWorkerChange(fn: (name: string, part: WorkerPart) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #changed(names: readonly (string | undefined)[], part: WorkerPart): void {
    for (const name of names) {
      if (name === undefined) continue;
      for (const fn of this.#listeners) {
        try {
          fn(name, part);
        } catch (err) {
          this.log.warn('worker change listener failed', { worker: name, err });
        }
      }
    }
  }

  // ---------- sessions ----------

  getSession(id: string): SessionRecord | undefined {
    const s = own(this.#readable().sessions, id);
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
    const v = own(this.#readable().meta, key);
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

  /** The whole file for `data` (JSON, 2-space indent, newline at the end; UTF-8). */
  protected serialize(data: StoreData): Buffer {
    if (data !== this.data) return Buffer.from(JSON.stringify(data, null, 2) + '\n');
    return this.#text.of(data);
  }

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
  #durable(
    change: () => void,
    workers: readonly (string | undefined)[] = [],
    part: WorkerPart = 'record',
  ): Promise<void> {
    try {
      this.#writable();
      change();
    } catch (err) {
      return Promise.reject(err);
    } finally {
      // Even a change that threw half-way may have touched these workers.
      this.#text.changed(workers);
    }
    const written = this.#batcher.writeNow();
    this.#changed(workers, part);
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

/**
 * A map's own entry: names and ids come from requests and manifests, so `__proto__` or `constructor`
 * must find nothing rather than Object.prototype's members.
 */
function own<T>(map: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(map, key) ? map[key] : undefined;
}

function requireKey(value: unknown, what: string): void {
  if (typeof value !== 'string' || value === '' || value === '__proto__') {
    throw new WorkerctlError(`cannot save: ${what} must be a non-empty string, got ${JSON.stringify(value)}`);
  }
}
