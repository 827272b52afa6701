/**
 * The exclusive lock on a state directory: one writer per database. proper-lockfile holds the lock (a
 * directory whose mtime the holder refreshes; a lock not refreshed for staleMs is stale and taken
 * over). Beside it an owner file names the holder's pid and host, for the error message, and lets a
 * lock left by a process that no longer exists on this host be taken over at once instead of after
 * staleMs (a controller restarted after a crash should not wait).
 */
import { readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { StoreLockedError } from '../errors.js';
import type { Logger } from '../log.js';

export const LOCK_DIR_NAME = 'workerctl.lock';
export const LOCK_OWNER_NAME = 'workerctl.lock.owner.json';

/** Who holds a state directory. */
export interface LockOwner {
  pid: number;
  hostname: string;
  /** ISO 8601. */
  since: string;
}

export interface StateLockOptions {
  logger: Logger;
  /** A lock not refreshed for this long is stale (proper-lockfile; at least 2000). */
  staleMs?: number;
  /** Called when the lock was lost while held (another process took it over). */
  onCompromised?: (err: Error) => void;
}

/** Reads the owner file of a state directory; undefined when absent or unreadable. */
export async function readLockOwner(stateDir: string): Promise<LockOwner | undefined> {
  try {
    const owner = JSON.parse(await readFile(join(stateDir, LOCK_OWNER_NAME), 'utf8')) as LockOwner;
    return typeof owner.pid === 'number' ? owner : undefined;
  } catch {
    return undefined;
  }
}

/** True when a process with this pid exists on this host. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function describeOwner(owner: LockOwner | undefined): string {
  if (!owner) return 'another workerctl process';
  return `pid ${owner.pid} on ${owner.hostname} (since ${owner.since})`;
}

/** A held lock on a state directory. */
export class StateDirLock {
  readonly #stateDir: string;
  readonly #release: () => Promise<void>;
  #released = false;

  private constructor(stateDir: string, release: () => Promise<void>) {
    this.#stateDir = stateDir;
    this.#release = release;
  }

  /**
   * Takes the lock. Throws StoreLockedError naming the directory and the holder when another process
   * (or another store in this process) holds it.
   */
  static async acquire(stateDir: string, options: StateLockOptions): Promise<StateDirLock> {
    const lockPath = join(stateDir, LOCK_DIR_NAME);
    const staleMs = Math.max(2000, options.staleMs ?? 20_000);
    const lockOptions: lockfile.LockOptions = {
      lockfilePath: lockPath,
      realpath: false,
      stale: staleMs,
      retries: 0,
      onCompromised: (err: Error) => {
        options.logger.error('state directory lock lost', { stateDir, err });
        options.onCompromised?.(err);
      },
    };
    let release: () => Promise<void>;
    try {
      release = await lockfile.lock(stateDir, lockOptions);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
      const owner = await readLockOwner(stateDir);
      if (!owner || owner.hostname !== hostname() || owner.pid === process.pid || pidAlive(owner.pid)) {
        throw new StoreLockedError(
          `state directory ${stateDir} is locked by ${describeOwner(owner)}; stop that controller first, ` +
            'or open the database read-only (status and plan do)',
          { cause: err },
        );
      }
      // The holder is gone: age the lock so proper-lockfile treats it as stale and takes it over.
      options.logger.warn('taking over the lock of a process that no longer exists', {
        stateDir,
        pid: owner.pid,
      });
      await utimes(lockPath, new Date(0), new Date(0)).catch(() => {});
      try {
        release = await lockfile.lock(stateDir, lockOptions);
      } catch (again) {
        throw new StoreLockedError(`state directory ${stateDir} is locked by another workerctl process`, {
          cause: again,
        });
      }
    }
    const owner: LockOwner = { pid: process.pid, hostname: hostname(), since: new Date().toISOString() };
    const ownerPath = join(stateDir, LOCK_OWNER_NAME);
    await writeFile(`${ownerPath}.${process.pid}.tmp`, JSON.stringify(owner) + '\n');
    await rename(`${ownerPath}.${process.pid}.tmp`, ownerPath);
    return new StateDirLock(stateDir, async () => {
      const current = await readLockOwner(stateDir);
      if (current?.pid === process.pid) await rm(ownerPath, { force: true });
      await release();
    });
  }

  /** Releases the lock (idempotent). */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    try {
      await this.#release();
    } catch (err) {
      // Already released or compromised: nothing more to give back.
      if ((err as NodeJS.ErrnoException).code !== 'ERELEASED') throw err;
    }
  }

  get stateDir(): string {
    return this.#stateDir;
  }
}
