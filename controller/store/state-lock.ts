/**
 * The exclusive lock on a state directory: one writer per database, always.
 *
 * Node has no flock/fcntl in core, and the npm packages that add it are native addons that need a
 * compiler at install; proper-lockfile decides staleness by a timestamp, which is exactly the
 * takeover race two controllers starting after a kill -9 lost. So the lock is a chain of holder
 * files, each made by an atomic create, and never taken over in place:
 *
 *   <stateDir>/workerctl.lock/holder.<N>.json   {pid, hostname, since, bootId, startTime, nonce}
 *
 * The holder is the highest N. To take the lock, a process reads the highest holder; while that one
 * lives, the directory is locked (the error names it). When it is dead (its process is gone, or is
 * another process now: same pid, other start time; or another boot; or it released the lock), the
 * process creates holder.<N+1>.json with link(2), which fails if the name exists, so of two
 * processes that both found N dead exactly one gets N+1; the other reads it, finds it alive, and is
 * refused. The winner then lists again, and gives up should a higher holder exist (one made from a
 * stale view of the directory). The highest holder file is never deleted (a release marks it
 * released), so a number once taken is never taken again; only files below the highest are
 * cleaned up.
 *
 * Liveness needs no timestamp: kill -9 of the holder leaves a file whose pid is gone (or reused,
 * which the start time in /proc tells on Linux), so the next start takes the lock at once. A holder
 * on another host (a state directory on a shared file system) cannot be checked and counts as alive.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { StoreLockedError } from '../errors.js';
import type { Logger } from '../log.js';

export const LOCK_DIR_NAME = 'workerctl.lock';
/** The owner file of earlier versions (proper-lockfile); removed when found. */
const OLD_OWNER_NAME = 'workerctl.lock.owner.json';
const HOLDER = /^holder\.(\d+)\.json$/;

/** Who holds a state directory. */
export interface LockOwner {
  pid: number;
  hostname: string;
  /** ISO 8601. */
  since: string;
  /** Linux: /proc/sys/kernel/random/boot_id of the holder's boot. */
  bootId?: string;
  /** Linux: the holder's start time in clock ticks after boot (/proc/<pid>/stat field 22). */
  startTime?: string;
  /** Tells this holder from another holder with the same pid (two stores in one process). */
  nonce: string;
  /** Set when the holder let the lock go. */
  released?: boolean;
}

export interface StateLockOptions {
  logger: Logger;
  /** Called when the lock was lost while held (its holder file removed or superseded by hand). */
  onCompromised?: (err: Error) => void;
  /** How often the holder checks that its lock is still in place (default 10 s; 0: never). */
  checkIntervalMs?: number;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** This boot's id (Linux), else undefined. */
function bootId(): string | undefined {
  return readText('/proc/sys/kernel/random/boot_id')?.trim() || undefined;
}

/** A process's start time after boot (Linux), else undefined. */
export function processStartTime(pid: number): string | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest[19]; // field 22; rest[0] is field 3
}

/** True when a process with this pid exists on this host. */
function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether a holder still holds: it has not released, and its process is the one that wrote it. */
export function holderAlive(owner: LockOwner): boolean {
  if (owner.released) return false;
  if (owner.hostname !== hostname()) return true; // cannot be checked from here
  const boot = bootId();
  if (owner.bootId && boot && owner.bootId !== boot) return false;
  if (!pidExists(owner.pid)) return false;
  if (owner.startTime) {
    const now = processStartTime(owner.pid);
    if (now !== undefined && now !== owner.startTime) return false; // the pid was reused
  }
  return true;
}

function describeOwner(owner: LockOwner | undefined): string {
  if (!owner) return 'another workerctl process';
  return `pid ${owner.pid} on ${owner.hostname} (since ${owner.since})`;
}

/** The holder numbers in a lock directory, highest first. */
async function holders(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .map((n) => HOLDER.exec(n)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => b - a);
}

async function readOwner(file: string): Promise<LockOwner | undefined> {
  try {
    const owner = JSON.parse(await readFile(file, 'utf8')) as LockOwner;
    return typeof owner.pid === 'number' && typeof owner.hostname === 'string' ? owner : undefined;
  } catch {
    return undefined;
  }
}

/** Who holds a state directory now, if anyone (for messages and `workerctl state check`). */
export async function readLockOwner(stateDir: string): Promise<LockOwner | undefined> {
  const dir = join(stateDir, LOCK_DIR_NAME);
  const [top] = await holders(dir);
  if (top === undefined) return undefined;
  const owner = await readOwner(join(dir, `holder.${top}.json`));
  return owner && holderAlive(owner) ? owner : undefined;
}

/** Writes a file completely and durably under a temporary name (so a link to it is never partial). */
async function writeDurably(file: string, text: string): Promise<void> {
  const handle = await open(file, 'wx', 0o644);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A held lock on a state directory. */
export class StateDirLock {
  readonly #stateDir: string;
  readonly #file: string;
  readonly #owner: LockOwner;
  readonly #timer?: NodeJS.Timeout;
  #released = false;

  private constructor(stateDir: string, file: string, owner: LockOwner, options: StateLockOptions) {
    this.#stateDir = stateDir;
    this.#file = file;
    this.#owner = owner;
    const every = options.checkIntervalMs ?? 10_000;
    if (every > 0) {
      this.#timer = setInterval(() => void this.#check(options), every);
      this.#timer.unref();
    }
  }

  /**
   * Takes the lock. Throws StoreLockedError naming the directory and the holder when another process
   * (or another store in this process) holds it.
   */
  static async acquire(stateDir: string, options: StateLockOptions): Promise<StateDirLock> {
    const dir = join(stateDir, LOCK_DIR_NAME);
    await mkdir(dir, { recursive: true });
    await rm(join(stateDir, OLD_OWNER_NAME), { force: true });
    const owner: LockOwner = {
      pid: process.pid,
      hostname: hostname(),
      since: new Date().toISOString(),
      bootId: bootId(),
      startTime: processStartTime(process.pid),
      nonce: randomBytes(8).toString('hex'),
    };
    // Each round either ends or sees a higher holder than the last; a few rounds settle any race.
    for (let round = 0; round < 20; round++) {
      const [top = 0] = await holders(dir);
      if (top > 0) {
        const current = await readOwner(join(dir, `holder.${top}.json`));
        // An unreadable holder file was not written by link (which only ever shows complete files):
        // it was damaged by hand, and holds nothing.
        if (current && holderAlive(current)) {
          throw new StoreLockedError(
            `state directory ${stateDir} is locked by ${describeOwner(current)}; stop that controller ` +
              'first, or open the database read-only (status and plan do)',
          );
        }
        if (current && !current.released) {
          options.logger.warn('state directory lock: its holder no longer runs; taking the lock', {
            stateDir,
            pid: current.pid,
            since: current.since,
          });
        }
      }
      const mine = join(dir, `holder.${top + 1}.json`);
      const temp = join(dir, `.holder.${process.pid}.${owner.nonce}.tmp`);
      await writeDurably(temp, JSON.stringify(owner) + '\n');
      try {
        await link(temp, mine);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue; // another process got N+1
        throw err;
      } finally {
        await rm(temp, { force: true });
      }
      const [highest] = await holders(dir);
      if (highest !== top + 1) {
        // A higher holder appeared meanwhile (made from an older view of the directory): it decides.
        await rm(mine, { force: true });
        continue;
      }
      for (const n of (await holders(dir)).filter((x) => x < top + 1)) {
        await rm(join(dir, `holder.${n}.json`), { force: true });
      }
      return new StateDirLock(stateDir, mine, owner, options);
    }
    throw new StoreLockedError(`state directory ${stateDir}: could not take its lock (too many contenders)`);
  }

  /** The lock is still ours: our holder file is there and the highest. */
  async #check(options: StateLockOptions): Promise<void> {
    if (this.#released) return;
    const dir = join(this.#stateDir, LOCK_DIR_NAME);
    const [top] = await holders(dir).catch(() => [] as number[]);
    const current = await readOwner(this.#file);
    if (current?.nonce === this.#owner.nonce && top !== undefined && this.#file.endsWith(`.${top}.json`))
      return;
    clearInterval(this.#timer);
    const err = new StoreLockedError(`the lock of state directory ${this.#stateDir} was removed or replaced`);
    options.logger.error('state directory lock lost', { stateDir: this.#stateDir, err });
    options.onCompromised?.(err);
  }

  /** Releases the lock (idempotent): marks the holder file released (it is never deleted: see above). */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#timer);
    const current = await readOwner(this.#file);
    if (current?.nonce !== this.#owner.nonce) return; // not ours any more
    const temp = `${this.#file}.${this.#owner.nonce}.tmp`;
    await writeDurably(temp, JSON.stringify({ ...this.#owner, released: true }) + '\n');
    await rename(temp, this.#file);
  }

  get stateDir(): string {
    return this.#stateDir;
  }
}
