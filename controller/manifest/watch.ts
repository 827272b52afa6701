/**
 * Watches the manifest directories and says "something changed" - never what. The controller then
 * re-reads the whole manifest set (level-triggered), so a missed, doubled or reordered event cannot
 * leave it wrong, and a burst of events (a git checkout of a thousand files, an editor's atomic
 * save) becomes one reload.
 *
 * chokidar 5 has no globs: we watch directories and filter names here. Hidden entries (.git, .#x,
 * .x.swp) and editor temp files are ignored, and so are files that are not YAML.
 */
import { watch, type FSWatcher } from 'chokidar';
import { lstatSync, realpathSync, type Stats } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Logger } from '../log.js';
import { RootSwapWatcher } from './root-swap.js';
import { isInside } from '../secret-file.js';
import { DEFAULT_WALK_LIMITS } from './walk.js';

export interface ManifestWatcherOptions {
  /** Directories (or single files) holding manifests. */
  paths: string[];
  /** Called once per burst of changes, with the changed files (YAML only, may be empty for dirs). */
  onChange: (batch: ChangeBatch) => void;
  logger: Logger;
  /** Quiet period that ends a burst (default 100 ms). */
  quietMs?: number;
  /** Upper bound on how long a small burst (an editor save) may hold a reload back (default 250 ms). */
  maxWaitMs?: number;
  /**
   * A burst of more than this many events is a checkout or a bulk copy: it is waited out (quiet
   * period) up to `bulkMaxWaitMs`, so it becomes one reload instead of one per maxWait (default 20).
   */
  bulkThreshold?: number;
  /** Quiet period that ends a bulk burst: writers stall now and then (default 500 ms). */
  bulkQuietMs?: number;
  /** Upper bound for a bulk burst (default 5 s). */
  bulkMaxWaitMs?: number;
  /** How deep below each directory to watch (default: unlimited, like the loader's recursion). */
  depth?: number;
  /** Poll instead of inotify (network filesystems); interval ms. */
  pollIntervalMs?: number;
}

/** One coalesced burst of file events. */
export interface ChangeBatch {
  /** Changed YAML files (absolute paths), deduplicated; directory events add no entry. */
  files: string[];
  /** Events seen in the burst (chokidar's and raw content changes). */
  events: number;
  /** Time of the first event of the burst (ms since epoch). */
  firstEventAt: number;
}

const YAML_FILE = /\.ya?ml$/i;

/** The debounce of a small burst (an editor's save): its quiet period and its upper bound, ms. */
export const DEFAULT_DEBOUNCE = { quietMs: 30, maxWaitMs: 200 } as const;

/** Editor and VCS temp names: vim swap/backup/probe, emacs lock/autosave, generic .tmp/.bak, ~ backups. */
export function isTempName(name: string): boolean {
  return (
    name.startsWith('.') ||
    name.endsWith('~') ||
    /^#.*#$/.test(name) ||
    /\.(swp|swx|swo|tmp|temp|bak|orig|rej|part|crdownload)$/i.test(name) ||
    name === '4913'
  );
}

/**
 * True for a symlink below the roots that leads out of them: chokidar follows symlinks, and a link to
 * /usr would have it watch all of /usr (issue 11 point 11). A link that leads nowhere is watched (its
 * change is news: the loader reports it). The roots themselves may be symlinks (a checkout swapped
 * atomically): their real paths are read at each check.
 */
function leavesRoots(abs: string, roots: ReadonlySet<string>, isLink?: boolean): boolean {
  try {
    if (!(isLink ?? lstatSync(abs).isSymbolicLink())) return false;
  } catch {
    return false;
  }
  let target: string;
  try {
    target = realpathSync(abs);
  } catch {
    return false;
  }
  for (const root of roots) {
    try {
      if (isInside(target, realpathSync(root))) return false;
    } catch {
      // a root that is gone holds nothing
    }
  }
  return true;
}

/** True for a file name the watcher reacts to. */
export function isManifestFile(path: string): boolean {
  const name = basename(path);
  return YAML_FILE.test(name) && !isTempName(name);
}

/** Debounced chokidar watcher over the manifest directories. */
export class ManifestWatcher {
  readonly #opts: Required<Omit<ManifestWatcherOptions, 'depth' | 'pollIntervalMs'>> &
    Pick<ManifestWatcherOptions, 'depth' | 'pollIntervalMs'>;
  readonly #roots: Set<string>;
  #watcher?: FSWatcher;
  #swaps?: RootSwapWatcher;
  #pending = new Set<string>();
  /** chokidar's events in the current burst (a bulk burst is told by their number). */
  #events = 0;
  /** Raw content changes in the current burst (#onContentChange). */
  #rawEvents = 0;
  #inBurst = false;
  #firstEventAt = 0;
  #quietTimer?: NodeJS.Timeout;
  #maxTimer?: NodeJS.Timeout;
  #ready = false;
  #closed = false;

  constructor(options: ManifestWatcherOptions) {
    // An option passed as undefined keeps its default (a spread alone would overwrite it).
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    this.#opts = {
      ...DEFAULT_DEBOUNCE,
      bulkThreshold: 20,
      bulkQuietMs: 500,
      bulkMaxWaitMs: 5000,
      ...(given as unknown as ManifestWatcherOptions),
    };
    this.#roots = new Set(options.paths.map((p) => resolve(p)));
  }

  /** Starts watching; resolves once the initial scan is done (events before that are not reported). */
  async start(): Promise<void> {
    if (this.#watcher) return;
    await this.#startChokidar();
    this.#ready = true;
    // A symlink swapped over a root (git-sync) is a change chokidar cannot see: re-watch, reload.
    this.#swaps = new RootSwapWatcher({
      roots: [...this.#roots],
      logger: this.#opts.logger,
      onSwap: (root, from, to) => {
        this.#opts.logger.info('manifest root swapped', { root, from, to });
        void this.#restartChokidar().then(() => this.#onEvent('addDir', root));
      },
    });
    await this.#swaps.start();
    this.#opts.logger.debug('manifest watcher ready', { paths: [...this.#roots] });
  }

  async #startChokidar(): Promise<void> {
    const roots = [...this.#roots];
    const ignored = (path: string, stats?: Stats): boolean => {
      const abs = resolve(path);
      if (this.#roots.has(abs)) return false;
      if (isTempName(basename(abs))) return true;
      if (stats?.isFile() && !YAML_FILE.test(abs)) return true;
      // Stats come from chokidar's directory listing, which lstat()s (it re-lists the whole directory
      // after every event in it: an lstat of our own per entry doubled that work). Stats from stat()
      // (a followed link looks like its target) come only after chokidar asked without stats about the
      // same path (NodeFsHandler._addToNodeFs), where we lstat ourselves.
      return leavesRoots(abs, this.#roots, stats ? stats.isSymbolicLink() : undefined);
    };
    const w = watch(roots, {
      ignoreInitial: true,
      persistent: true,
      ignored,
      atomic: true,
      followSymlinks: true,
      // As deep as the loader walks (walk.ts); a symlink out of the roots is never followed (leavesRoots).
      depth: this.#opts.depth ?? DEFAULT_WALK_LIMITS.maxDepth,
      ...(this.#opts.pollIntervalMs ? { usePolling: true, interval: this.#opts.pollIntervalMs } : {}),
    });
    this.#watcher = w;
    w.on('all', (event, path) => {
      if (this.#watcher === w) this.#onEvent(event, path);
    });
    // Polling reports each stat change as raw 'change' (an atime our own reads moved, too); its
    // interval is far longer than chokidar's change throttle anyway.
    if (!this.#opts.pollIntervalMs) {
      w.on('raw', (event, name, details) => {
        if (this.#watcher !== w || event !== 'change') return;
        const watched = (details as { watchedPath?: string } | undefined)?.watchedPath;
        const file = watched === undefined ? undefined : this.#changedEntry(resolve(watched), name);
        if (file) this.#onContentChange(file);
      });
    }
    w.on('error', (err) => this.#opts.logger.warn('manifest watcher error', { err }));
    await new Promise<void>((resolveReady) => w.once('ready', () => resolveReady()));
  }

  async #restartChokidar(): Promise<void> {
    const old = this.#watcher;
    this.#watcher = undefined;
    if (old) await closeChokidar(old);
    if (!this.#closed) await this.#startChokidar();
  }

  #onEvent(event: string, path: string): void {
    if (!this.#ready || this.#closed) return;
    const abs = resolve(path);
    const isDirEvent = event === 'addDir' || event === 'unlinkDir';
    if (!isDirEvent && !isManifestFile(abs)) return;
    if (isDirEvent && isTempName(basename(abs))) return;
    if (!isDirEvent) this.#pending.add(abs);
    this.#events++;
    this.#extendBurst();
  }

  /**
   * The file a raw fs.watch 'change' is about: a directory's watcher names the entry, a file's watcher
   * its own name. Only a file named as a root is taken from its own watcher; any other file's changes
   * come from its directory's watcher (its own also reports the link count an unlink drops, which
   * chokidar reports as a removal later).
   */
  #changedEntry(watched: string, name: string): string | undefined {
    if (basename(watched) !== name) return join(watched, name);
    return this.#roots.has(watched) ? watched : undefined;
  }

  /**
   * A raw content (or metadata) change of a file. chokidar reports a file's changes within 50 ms of
   * the last one it reported as nothing (FSWatcher._emit throttles 'change' per path, with no trailing
   * event), so the rest of a write still in progress when a reload started would go unseen; raw
   * events are not throttled. They extend the burst or start one, but do not count towards a bulk
   * burst (one save is several of them).
   */
  #onContentChange(file: string): void {
    if (!this.#ready || this.#closed || !isManifestFile(file)) return;
    this.#pending.add(file);
    this.#rawEvents++;
    this.#extendBurst();
  }

  // Trailing debounce: fire after a quiet period, but never later than maxWait after the first event.
  #extendBurst(): void {
    if (!this.#inBurst) {
      this.#inBurst = true;
      this.#firstEventAt = Date.now();
    }
    if (this.#quietTimer) clearTimeout(this.#quietTimer);
    const bulk = this.#events > this.#opts.bulkThreshold;
    this.#quietTimer = setTimeout(() => this.#fire(), bulk ? this.#opts.bulkQuietMs : this.#opts.quietMs);
    this.#maxTimer ??= setTimeout(() => this.#onMaxWait(), this.#opts.maxWaitMs);
  }

  #onMaxWait(): void {
    this.#maxTimer = undefined;
    if (this.#events > this.#opts.bulkThreshold) {
      // A bulk change still in progress: wait for it to go quiet, within the bulk bound.
      const left = this.#firstEventAt + this.#opts.bulkMaxWaitMs - Date.now();
      if (left > 0) {
        this.#maxTimer = setTimeout(() => this.#fire(), left);
        return;
      }
    }
    this.#fire();
  }

  #fire(): void {
    if (this.#quietTimer) clearTimeout(this.#quietTimer);
    if (this.#maxTimer) clearTimeout(this.#maxTimer);
    this.#quietTimer = undefined;
    this.#maxTimer = undefined;
    if (!this.#inBurst || this.#closed) return;
    const batch: ChangeBatch = {
      files: [...this.#pending].sort(),
      events: this.#events + this.#rawEvents,
      firstEventAt: this.#firstEventAt,
    };
    this.#pending.clear();
    this.#events = 0;
    this.#rawEvents = 0;
    this.#inBurst = false;
    try {
      this.#opts.onChange(batch);
    } catch (err) {
      this.#opts.logger.error('manifest change handler failed', { err });
    }
  }

  /** Changes the debounce of the bursts to come (the benchmark compares settings in one run). */
  setDebounce(debounce: { quietMs?: number; maxWaitMs?: number }): void {
    if (debounce.quietMs !== undefined) this.#opts.quietMs = debounce.quietMs;
    if (debounce.maxWaitMs !== undefined) this.#opts.maxWaitMs = debounce.maxWaitMs;
  }

  /** Stops watching; a pending burst is dropped (the caller is shutting down). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#swaps?.close();
    if (this.#quietTimer) clearTimeout(this.#quietTimer);
    if (this.#maxTimer) clearTimeout(this.#maxTimer);
    const w = this.#watcher;
    this.#watcher = undefined;
    if (w) await closeChokidar(w);
  }
}

/**
 * Closes a chokidar watcher for good. Its delayed unlink handling (the `atomic` option's timer)
 * may still run after close() and, for a removed root, call add(), which reopens the watcher and
 * leaves an fs watcher nobody closes; once closed, add() does nothing.
 */
async function closeChokidar(w: FSWatcher): Promise<void> {
  w.add = () => w;
  await w.close();
}
