/**
 * A stateful manifest loader for the controller's reload passes: it keeps each file's own result
 * (parse, schema, defaults, per-worker checks) and parses again only the files that changed, are new,
 * or cannot be trusted by their stat. The directory walk and the checks across files (unique names
 * and addresses) run over the whole set on every load, so a load always equals a fresh
 * `loadManifests` of the same tree (level-triggered).
 *
 * When a file's result is reused: its (size, mtime, ctime, inode) equal the ones seen when it was
 * read, and it was not "racily" recent then (a write within the same timestamp tick as the read keeps
 * all four: such a file is read again and compared by content hash until it is old enough). A file
 * whose stat changed is read again; if its content hash is unchanged it is not parsed again.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { LoadResult } from '../types.js';
import { collectManifestFiles } from './walk.js';
import { finishLoad, problemResult, type LoadOptions } from './load.js';
import { parseFile, type FileResult } from './parse.js';
import { readManifestFile, readManifestFileSync, type ReadOutcome } from './read.js';

/** Options of createManifestLoader. */
export interface ManifestLoaderOptions extends LoadOptions {
  /**
   * A file changed less than this long before it was read is checked by content on the next load
   * even if its stat is unchanged (default 3 s: above the 2 s timestamp granularity of the coarsest
   * file systems).
   */
  racyWindowMs?: number;
  /** Wall clock for the racy check (tests). */
  now?: () => number;
}

/** A loader that remembers each file's result between loads. */
export interface ManifestLoader {
  /** Same result as `loadManifests(paths, opts)`, parsing only what changed since the last load. */
  load(paths: string[]): Promise<LoadResult>;
  /** Files whose result is cached (after the last load). */
  readonly cachedFiles: number;
}

const DEFAULT_CONCURRENCY = 32;
const DEFAULT_RACY_WINDOW_MS = 3000;

interface Entry {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  /** The stat may be trusted alone (the file was not written around the time it was read). */
  settled: boolean;
  hash: string;
  result: FileResult;
}

/** Creates a loader with its own cache; one per controller. Loads must not overlap. */
export function createManifestLoader(opts: ManifestLoaderOptions = {}): ManifestLoader {
  const cache = new Map<string, Entry>();
  const racyWindowMs = opts.racyWindowMs ?? DEFAULT_RACY_WINDOW_MS;
  const now = opts.now ?? Date.now;

  /** The file's result from bytes just read (`readAt`: when the read began), cached with its stat. */
  const taken = (file: string, read: ReadOutcome, readAt: number, entry: Entry | undefined): FileResult => {
    if (!('bytes' in read)) {
      cache.delete(file);
      return problemResult(read.problem);
    }
    const hash = createHash('sha256').update(read.bytes).digest('base64');
    const result = entry && entry.hash === hash ? entry.result : parseFile(file, read.bytes, opts);
    const st = read.stat;
    cache.set(file, {
      size: st.size,
      mtimeMs: st.mtimeMs,
      ctimeMs: st.ctimeMs,
      ino: st.ino,
      settled: Math.max(st.mtimeMs, st.ctimeMs) < readAt - racyWindowMs,
      hash,
      result,
    });
    return result;
  };

  /** The cached result when the stat vouches for it, else undefined: the file must be read. */
  const reusable = (file: string, st: fs.Stats | undefined): FileResult | undefined => {
    const entry = cache.get(file);
    if (
      entry &&
      st &&
      entry.settled &&
      st.size === entry.size &&
      st.mtimeMs === entry.mtimeMs &&
      st.ctimeMs === entry.ctimeMs &&
      st.ino === entry.ino
    ) {
      return entry.result;
    }
    return undefined;
  };

  return {
    get cachedFiles() {
      return cache.size;
    },
    async load(paths: string[]): Promise<LoadResult> {
      const { files, problems, roots } = await collectManifestFiles(paths, opts.walk);
      const present = new Set(files);
      for (const file of cache.keys()) if (!present.has(file)) cache.delete(file);
      const stats = await statCached(files, cache);
      const results = files.map((file, i) => reusable(file, stats[i]));
      const toRead = files.flatMap((file, i) => (results[i] ? [] : [i]));
      if (toRead.length <= SYNC_READS) {
        for (const i of toRead) {
          const readAt = now();
          results[i] = taken(files[i]!, readManifestFileSync(files[i]!, opts), readAt, cache.get(files[i]!));
        }
      } else {
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < toRead.length) {
            const i = toRead[next++]!;
            const readAt = now();
            const read = await readManifestFile(files[i]!, opts);
            results[i] = taken(files[i]!, read, readAt, cache.get(files[i]!));
          }
        };
        const limit = Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY);
        await Promise.all(Array.from({ length: Math.min(limit, toRead.length) }, worker));
      }
      const sizes = files.map((f) => cache.get(f)?.size ?? 0);
      return finishLoad(paths, results as FileResult[], sizes, problems, roots, files, opts);
    },
  };
}

/**
 * Files read synchronously when no more than this many changed: a save changes a handful, and their
 * asynchronous reads would wait in libuv's 4 threads behind the watcher's re-listing of the directory
 * (read.ts readManifestFileSync). A checkout of many files is read asynchronously, 32 at a time.
 */
const SYNC_READS = 16;

/** Files stat()ed synchronously between two turns of the event loop (a few ms of stats). */
const STAT_BATCH = 1024;

/**
 * The stat of every cached file (undefined for the others, and for a file that cannot be stat()ed).
 * Synchronous, in batches: a stat of a file the kernel has cached costs microseconds, while an
 * asynchronous one goes through libuv's 4 threads and queues behind whatever else waits there (the
 * watcher re-reading a directory of 1,000 files after a save, a store fsync): at 1,000 files that
 * was 10-50 ms of a reload after one save.
 */
async function statCached(files: readonly string[], cache: ReadonlyMap<string, Entry>) {
  const out = new Array<fs.Stats | undefined>(files.length);
  for (let i = 0; i < files.length; i++) {
    if (i > 0 && i % STAT_BATCH === 0) await new Promise((resolveTurn) => setImmediate(resolveTurn));
    if (!cache.has(files[i]!)) continue;
    try {
      out[i] = fs.statSync(files[i]!, { throwIfNoEntry: false });
    } catch {
      out[i] = undefined;
    }
  }
  return out;
}
