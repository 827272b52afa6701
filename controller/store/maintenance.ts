/**
 * Inspecting and rolling back a state directory's database (`workerctl state check` and `state
 * restore`). Inspecting reads without the lock and changes nothing; restoring takes the lock (so no
 * controller runs), checks the copy it restores first, and keeps the file it replaces.
 */
import { constants } from 'node:fs';
import { copyFile, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreCorruptError, WorkerctlError } from '../errors.js';
import type { Logger } from '../log.js';
import { parseDatabaseText } from './json-file-adapter.js';
import { DB_FILE_NAME } from './lowdb-store.js';
import { StoreShapeError, migrateStoreData } from './schema.js';
import { StateDirLock, readLockOwner, type LockOwner } from './state-lock.js';

/** What one database file holds, or why it cannot be used. */
export interface DatabaseReport {
  file: string;
  exists: boolean;
  ok: boolean;
  bytes?: number;
  schemaVersion?: number;
  workers?: number;
  sessions?: number;
  /** Every problem found (empty when ok). */
  problems: string[];
}

export interface StateReport {
  stateDir: string;
  database: DatabaseReport;
  backup: DatabaseReport;
  /** The live holder of the lock, if any. */
  lock?: LockOwner;
}

/** Reads and checks one database file; never throws for its content. */
export async function inspectDatabase(file: string): Promise<DatabaseReport> {
  let text: string;
  let bytes: number;
  try {
    bytes = (await stat(file)).size;
    const handle = await open(file, 'r');
    try {
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { file, exists: false, ok: false, problems: ['no such file'] };
    return { file, exists: true, ok: false, problems: [`cannot read it: ${code ?? String(err)}`] };
  }
  try {
    const value = parseDatabaseText(text, file);
    const { data, fromVersion } = migrateStoreData(value, file);
    return {
      file,
      exists: true,
      ok: true,
      bytes,
      schemaVersion: fromVersion,
      workers: Object.keys(data.workers).length,
      sessions: Object.keys(data.sessions).length,
      problems: [],
    };
  } catch (err) {
    const problems =
      err instanceof StoreShapeError
        ? err.problems.map((p) => `${p.pointer} ${p.message}`)
        : [(err as Error).message.replace(`${file}: `, '')];
    return { file, exists: true, ok: false, bytes, problems };
  }
}

/** The database, its last good copy, and who holds the lock. */
export async function inspectStateDir(stateDir: string): Promise<StateReport> {
  const file = join(stateDir, DB_FILE_NAME);
  const [database, backup, lock] = await Promise.all([
    inspectDatabase(file),
    inspectDatabase(`${file}.bak`),
    readLockOwner(stateDir),
  ]);
  return { stateDir, database, backup, lock };
}

export interface RestoreResult {
  restoredFrom: string;
  /** Where the file that was replaced was kept (undefined when there was none). */
  keptAs?: string;
  report: DatabaseReport;
}

/**
 * Puts a checked copy (default: the `.bak`) in place of the database. Refused while a controller
 * holds the state directory, and when the copy itself is damaged; the replaced file is kept beside
 * it as `workerctl.db.json.replaced-<time>`.
 */
export async function restoreDatabase(
  stateDir: string,
  opts: { from?: string; logger: Logger; now?: Date },
): Promise<RestoreResult> {
  const file = join(stateDir, DB_FILE_NAME);
  const from = opts.from ?? `${file}.bak`;
  const lock = await StateDirLock.acquire(stateDir, { logger: opts.logger, checkIntervalMs: 0 });
  try {
    const report = await inspectDatabase(from);
    if (!report.exists) throw new WorkerctlError(`nothing to restore: ${from} does not exist`);
    if (!report.ok) {
      throw new StoreCorruptError(
        `${from} is not a usable database either (${report.problems.join('; ')}); nothing was changed`,
      );
    }
    let keptAs: string | undefined;
    const stamp = (opts.now ?? new Date()).toISOString().replace(/[:.]/g, '-');
    try {
      await stat(file);
      keptAs = `${file}.replaced-${stamp}`;
    } catch {
      keptAs = undefined;
    }
    const temp = join(stateDir, `.${DB_FILE_NAME}.restore.tmp`);
    await copyFile(from, temp);
    const handle = await open(temp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      // A copy first, then one rename over the file: there is a database at every moment.
      if (keptAs) await copyFile(file, keptAs, constants.COPYFILE_EXCL);
      await rename(temp, file);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    return { restoredFrom: from, keptAs, report };
  } finally {
    await lock.release();
  }
}
