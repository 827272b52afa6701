/**
 * Notices when a manifest root is swapped by renaming a symlink over it or over one of the
 * directories above it. git-sync publishes each revision that way (a new link renamed over the old
 * one, atomically); chokidar keeps watching the old link's target and sees nothing. We watch the
 * directory that holds each symlink on the root's path (fs.watch, one level, no recursion) and,
 * on any event for the link's name there, compare the root's real path with the last one.
 */
import { watch, type FSWatcher } from 'node:fs';
import { lstat, realpath } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from '../log.js';

export interface RootSwapOptions {
  roots: readonly string[];
  /** Called once per swap, after the root's new real path is known. */
  onSwap: (root: string, from: string, to: string) => void;
  logger: Logger;
}

/** The symlinks on the path to `root` (the root itself included), as [parent dir, link name]. */
export async function symlinksOnPath(root: string): Promise<[string, string][]> {
  const out: [string, string][] = [];
  let cur = resolve(root);
  for (;;) {
    const up = dirname(cur);
    if (up === cur) return out;
    const st = await lstat(cur).catch(() => undefined);
    if (st?.isSymbolicLink()) out.push([up, basename(cur)]);
    cur = up;
  }
}

export class RootSwapWatcher {
  readonly #opts: RootSwapOptions;
  readonly #real = new Map<string, string>();
  #watchers: FSWatcher[] = [];
  #checking?: Promise<void>;
  #again = false;
  #closed = false;

  constructor(opts: RootSwapOptions) {
    this.#opts = opts;
  }

  /** Resolves once every root's real path is known and the link directories are watched. */
  async start(): Promise<void> {
    for (const root of this.#opts.roots) {
      const real = await realpath(root).catch(() => undefined);
      if (real) this.#real.set(resolve(root), real);
    }
    await this.#watchLinks();
  }

  async #watchLinks(): Promise<void> {
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
    const byDir = new Map<string, Set<string>>();
    for (const root of this.#opts.roots) {
      for (const [dir, name] of await symlinksOnPath(root)) {
        if (!byDir.has(dir)) byDir.set(dir, new Set());
        byDir.get(dir)!.add(name);
      }
    }
    if (this.#closed) return;
    for (const [dir, names] of byDir) {
      try {
        const w = watch(dir, { persistent: false }, (_event, file) => {
          if (file === null || names.has(String(file))) this.#check();
        });
        w.on('error', (err) => this.#opts.logger.debug('link directory watch failed', { dir, err }));
        this.#watchers.push(w);
      } catch (err) {
        this.#opts.logger.warn('cannot watch the directory of a manifest symlink', { dir, err });
      }
    }
  }

  /** Compares every root's real path with the last one (serialised; a check during one runs again). */
  #check(): void {
    if (this.#closed) return;
    if (this.#checking) {
      this.#again = true;
      return;
    }
    this.#checking = (async () => {
      do {
        this.#again = false;
        let swapped = false;
        for (const root of this.#opts.roots) {
          const abs = resolve(root);
          const now = await realpath(abs).catch(() => undefined);
          const before = this.#real.get(abs);
          if (!now || now === before) continue;
          this.#real.set(abs, now);
          swapped = true;
          if (!this.#closed) this.#opts.onSwap(abs, before ?? '', now);
        }
        // A swap may change which links are on the path (a new link one level up).
        if (swapped) await this.#watchLinks();
      } while (this.#again && !this.#closed);
    })().finally(() => (this.#checking = undefined));
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
  }
}
