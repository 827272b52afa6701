/**
 * The configuration database on disk: lowdb's Low over an atomic JSON file adapter, one file
 * `<stateDir>/workerctl.db.json`, one writer per state directory (StateDirLock). Opening migrates an
 * older file (keeping the original as `.v<N>.bak`), refuses a newer or unparseable one without
 * touching it, and keeps a copy of the file that opened cleanly as `.bak` for recovery.
 */
import { copyFile, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Low } from 'lowdb';
import { StoreLockedError, WorkerctlError } from '../errors.js';
import type { BaseStoreOptions } from './base-store.js';
import { BaseStore } from './base-store.js';
import { JsonFileAdapter } from './json-file-adapter.js';
import { emptyStoreData, migrateStoreData } from './schema.js';
import { StateDirLock } from './state-lock.js';
import type { StoreData } from './store.js';

/** The database file's name inside the state directory. */
export const DB_FILE_NAME = 'workerctl.db.json';
/** The state directory when --state-dir is not given. */
export const DEFAULT_STATE_DIR = '.workerctl';

export interface LowdbStoreOptions extends BaseStoreOptions {
  /** Directory holding the database and its lock (created on a writable open). */
  stateDir: string;
  /** fsync file and directory on every write (default true). */
  fsync?: boolean;
  /** How often the writer checks that its lock is still in place (default 10 s). */
  lockCheckMs?: number;
  /** Called after each completed file write (metrics). */
  onWrite?: (info: { bytes: number; durationMs: number }) => void;
}

export class LowdbStore extends BaseStore {
  readonly stateDir: string;
  readonly file: string;
  readonly #adapter: JsonFileAdapter<StoreData>;
  readonly #db: Low<StoreData>;
  readonly #lockCheckMs: number | undefined;
  #lock: StateDirLock | undefined;
  #lastBytes = 0;

  constructor(options: LowdbStoreOptions) {
    super(options);
    this.stateDir = resolve(options.stateDir);
    this.file = join(this.stateDir, DB_FILE_NAME);
    this.#lockCheckMs = options.lockCheckMs;
    this.#adapter = new JsonFileAdapter<StoreData>(this.file, {
      fsync: options.fsync,
      serialize: (data) => this.serialize(data),
      onWrite: (info) => {
        this.#lastBytes = info.bytes;
        options.onWrite?.(info);
      },
    });
    this.#db = new Low<StoreData>(this.#adapter, emptyStoreData());
  }

  get location(): string {
    return this.file;
  }

  /** Re-reads the file (read-only stores: see what the controller wrote since open). */
  async reload(): Promise<void> {
    if (!this.readOnly)
      throw new WorkerctlError('reload is for read-only stores; a writable store is the source of truth');
    this.data = await this.#read();
  }

  protected async load(): Promise<StoreData> {
    if (this.readOnly) return this.#read();
    await mkdir(this.stateDir, { recursive: true });
    this.#lock = await StateDirLock.acquire(this.stateDir, {
      logger: this.log,
      checkIntervalMs: this.#lockCheckMs,
      onCompromised: () =>
        this.fail(
          new StoreLockedError(
            `lost the lock on state directory ${this.stateDir} (its holder file was removed or replaced); writes stopped`,
          ),
        ),
    });
    try {
      await this.#removeTempFiles();
      return await this.#read();
    } catch (err) {
      await this.#lock.release();
      this.#lock = undefined;
      throw err;
    }
  }

  protected async persist(data: StoreData): Promise<number> {
    this.#db.data = data;
    await this.#db.write();
    return this.#lastBytes;
  }

  protected async release(): Promise<void> {
    await this.#lock?.release();
    this.#lock = undefined;
  }

  /** Reads, checks and migrates the file; a writable store also writes the migration and a backup. */
  async #read(): Promise<StoreData> {
    const content = await this.#adapter.readContent();
    if (!content.exists) return emptyStoreData();
    // Checked whole before anything reads it or copies it to .bak: a damaged file never replaces
    // the last good copy.
    const outcome = migrateStoreData(content.value, this.file);
    if (this.readOnly) return outcome.data;
    if (outcome.applied.length > 0) {
      const backup = `${this.file}.v${outcome.fromVersion}.bak`;
      await copyFile(this.file, backup);
      await this.#adapter.write(outcome.data);
      this.log.info('store migrated', {
        file: this.file,
        from: outcome.fromVersion,
        to: outcome.data.schemaVersion,
        steps: outcome.applied,
        backup,
      });
    }
    await copyFile(this.file, `${this.file}.bak.tmp`);
    await rename(`${this.file}.bak.tmp`, `${this.file}.bak`);
    return outcome.data;
  }

  /** Temp files left by a crash in the middle of a write (the real file is intact). */
  async #removeTempFiles(): Promise<void> {
    const prefix = `.${DB_FILE_NAME}.`;
    for (const name of await readdir(this.stateDir)) {
      if (name.startsWith(prefix) && name.endsWith('.tmp'))
        await rm(join(this.stateDir, name), { force: true });
    }
  }
}
