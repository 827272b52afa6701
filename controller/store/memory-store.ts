/**
 * Store without a disk, for tests: the same semantics as LowdbStore (copies, masking, bounded history,
 * coalescing, batching, read-only refusal, migration of initial data), with "the file" kept as JSON
 * text in a MemoryVolume. Stores sharing a volume see each other's persisted data on open, as stores
 * sharing a state directory do (without the lock: tests that need the lock use LowdbStore).
 */
import type { BaseStoreOptions } from './base-store.js';
import { BaseStore } from './base-store.js';
import { emptyStoreData, migrateStoreData } from './schema.js';
import type { StoreData } from './store.js';

/** Where MemoryStores keep "the file". */
export class MemoryVolume {
  /** The persisted JSON text, undefined before the first write. */
  text: string | undefined;

  constructor(initial?: unknown) {
    if (initial !== undefined) this.text = JSON.stringify(initial);
  }

  /** The persisted data, parsed (as a reopen would see it before migration). */
  read(): StoreData | undefined {
    return this.text === undefined ? undefined : (JSON.parse(this.text) as StoreData);
  }
}

export interface MemoryStoreOptions extends BaseStoreOptions {
  /** Shared "disk"; a new empty one by default. */
  volume?: MemoryVolume;
  /** Content "on disk" before open, in any supported schema version (migrated on open). */
  initial?: unknown;
}

export class MemoryStore extends BaseStore {
  readonly volume: MemoryVolume;

  constructor(options: MemoryStoreOptions = {}) {
    super(options);
    this.volume = options.volume ?? new MemoryVolume();
    if (options.initial !== undefined) this.volume.text = JSON.stringify(options.initial);
  }

  get location(): string {
    return 'memory';
  }

  /** The data as last persisted (what a reopen would load), or undefined before the first write. */
  persisted(): StoreData | undefined {
    return this.volume.read();
  }

  protected async load(): Promise<StoreData> {
    if (this.volume.text === undefined) return emptyStoreData();
    return migrateStoreData(JSON.parse(this.volume.text), 'memory').data;
  }

  protected async persist(data: StoreData): Promise<number> {
    const text = this.serialize(data).toString('utf8');
    // Land on a later turn, as a file write does, so batching behaves alike.
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.volume.text = text;
    return text.length;
  }

  protected async release(): Promise<void> {}
}
