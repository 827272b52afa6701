/**
 * lowdb adapter for the database file. Writes are atomic (a temp file in the same directory, fsynced,
 * then renamed over the old file, then the directory fsynced), so a reader or a crash only ever sees
 * the old or the new complete file. Reads report unparseable JSON as StoreCorruptError naming the
 * file, line and column.
 */
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Adapter } from 'lowdb';
import { StoreCorruptError } from '../errors.js';

export interface JsonFileAdapterOptions<T = unknown> {
  /** fsync the file and its directory on each write (default true). */
  fsync?: boolean;
  /** Called after each completed write, with its size and duration. */
  onWrite?: (info: { bytes: number; durationMs: number }) => void;
  /** The file's content for the data (default `JSON.stringify(data, null, 2)` and a newline). */
  serialize?: (data: T) => string | Uint8Array;
}

/** Line and column (1-based) of a character offset in a text. */
export function lineColAt(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, col: lines[lines.length - 1]!.length + 1 };
}

/** Parses database text; a syntax error becomes StoreCorruptError at file:line:col with a way out. */
export function parseDatabaseText(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const pos = /position (\d+)/.exec(message);
    const offset = pos ? Number(pos[1]) : text.length;
    const { line, col } = lineColAt(text, offset);
    throw new StoreCorruptError(
      `${file}:${line}:${col}: the database is not valid JSON (${message}); it was left untouched. ` +
        `To recover, restore ${basename(file)}.bak (the last file that opened cleanly) or move the file ` +
        'aside to start empty (its VMs are then no longer in the records: workerctl reports them as conflicts and ' +
        'never touches them)',
      { cause: err },
    );
  }
}

/** Atomic JSON file for lowdb's Low. */
export class JsonFileAdapter<T> implements Adapter<T> {
  readonly file: string;
  readonly #fsync: boolean;
  readonly #onWrite: JsonFileAdapterOptions['onWrite'];
  readonly #tempFile: string;
  readonly #serialize: (data: T) => string | Uint8Array;

  constructor(file: string, options: JsonFileAdapterOptions<T> = {}) {
    this.file = file;
    this.#serialize = options.serialize ?? ((data) => JSON.stringify(data, null, 2) + '\n');
    this.#fsync = options.fsync ?? true;
    this.#onWrite = options.onWrite;
    this.#tempFile = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  }

  /** lowdb's read: the parsed file, or null when it does not exist (workerctl reads with readContent). */
  async read(): Promise<T | null> {
    const content = await this.readContent();
    return content.exists ? (content.value as T) : null;
  }

  /**
   * Whether the file exists and, when it does, its parsed content as it is. A file holding `null` is
   * not "no file": the caller gets null and refuses it.
   */
  async readContent(): Promise<{ exists: false } | { exists: true; value: unknown }> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { exists: false };
      throw err;
    }
    return { exists: true, value: parseDatabaseText(text, this.file) };
  }

  /** Serialises synchronously (so later changes are not included), then writes atomically. */
  write(data: T): Promise<void> {
    const text = this.#serialize(data);
    return this.#writeText(text);
  }

  async #writeText(text: string | Uint8Array): Promise<void> {
    const started = performance.now();
    const handle = await open(this.#tempFile, 'w', 0o600);
    try {
      await handle.writeFile(text);
      if (this.#fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(this.#tempFile, this.file);
    } catch (err) {
      await rm(this.#tempFile, { force: true });
      throw err;
    }
    if (this.#fsync) await syncDir(dirname(this.file));
    const bytes = typeof text === 'string' ? Buffer.byteLength(text) : text.byteLength;
    this.#onWrite?.({ bytes, durationMs: performance.now() - started });
  }
}

/** fsyncs a directory so a rename in it survives a power loss (best effort where unsupported). */
async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  } finally {
    await handle?.close();
  }
}
