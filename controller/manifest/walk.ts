/**
 * Which files a set of manifest paths means. A file named explicitly is always loaded. A directory
 * is walked recursively in sorted order for *.yaml and *.yml, skipping hidden entries, editor
 * temporary files, and every subdirectory that contains a `.workerctl-ignore` file (a directory
 * named explicitly is loaded even if it has one).
 *
 * What a walk never does (issue 11): follow a symlink out of the directory it walks (a link to /usr
 * is reported, not read), pass over a symlink that leads nowhere (a dangling or looping link is a
 * problem on its own path, so the workers that came from it keep their last spec instead of looking
 * removed), or go on without bound: past maxFiles manifest files, maxDepth levels or maxEntries
 * directory entries it stops with a problem on the root, and the controller changes nothing.
 */
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { isInside } from '../secret-file.js';

/** The marker file that keeps a subdirectory out of a directory walk. */
export const IGNORE_MARKER = '.workerctl-ignore';

/** How far a walk goes. */
export interface WalkLimits {
  /** Manifest files under one root (default 10,000). */
  maxFiles?: number;
  /** Directory levels below a root (default 16). */
  maxDepth?: number;
  /** Directory entries looked at under one root, manifest or not (default 100,000). */
  maxEntries?: number;
}

export const DEFAULT_WALK_LIMITS: Required<WalkLimits> = {
  maxFiles: 10_000,
  maxDepth: 16,
  maxEntries: 100_000,
};

/**
 * A path that could not be used. path.missing, path.unreadable and path.limit mean the set is not
 * known (the controller then changes nothing); path.dangling and path.outside-root concern that path
 * alone (the workers that came from under it keep their last spec).
 */
export interface PathProblem {
  path: string;
  code: 'path.missing' | 'path.unreadable' | 'path.limit' | 'path.dangling' | 'path.outside-root';
  message: string;
}

/** Result of expanding the paths: absolute file paths in deterministic order, and problems. */
export interface CollectedFiles {
  files: string[];
  problems: PathProblem[];
  /** The real path of the root each file was found under (its directory for a file named explicitly). */
  roots: Map<string, string>;
}

/** Whether a file name found in a walk is a manifest (not hidden, not an editor temp file). */
export function isManifestFileName(name: string): boolean {
  if (name.startsWith('.') || name.startsWith('#') || name.endsWith('~') || name === '4913') return false;
  return name.endsWith('.yaml') || name.endsWith('.yml');
}

/**
 * Expands files and directories to the manifest files they hold (absolute, deduplicated, sorted per
 * root). The walk's calls are synchronous: a directory listing and a stat per symlink are quick,
 * while asynchronous ones would wait in libuv's 4 threads behind the watcher's own re-listing of the
 * directory after a save.
 */
export async function collectManifestFiles(
  paths: string[],
  limits: WalkLimits = {},
): Promise<CollectedFiles> {
  const { maxFiles, maxDepth, maxEntries } = { ...DEFAULT_WALK_LIMITS, ...limits };
  const files: string[] = [];
  const problems: PathProblem[] = [];
  const roots = new Map<string, string>();
  const seenFiles = new Set<string>();
  const addFile = (f: string, root: string): void => {
    if (!seenFiles.has(f)) {
      seenFiles.add(f);
      files.push(f);
      roots.set(f, root);
    }
  };

  for (const p of paths) {
    const abs = resolve(p);
    let st;
    let real: string;
    try {
      st = statSync(abs);
      real = realpathSync(abs);
    } catch (err) {
      problems.push(problem(abs, err));
      continue;
    }
    if (!st.isDirectory()) {
      addFile(abs, dirname(real));
      continue;
    }
    const seenDirs = new Set<string>();
    let found = 0;
    let entriesSeen = 0;
    let stopped: PathProblem | undefined;
    const stop = (message: string): void => {
      stopped ??= { path: abs, code: 'path.limit', message };
    };
    const walk = (dir: string, dirReal: string, depth: number, explicit: boolean): void => {
      if (stopped || seenDirs.has(dirReal)) return; // the same directory twice (a link inside the root)
      seenDirs.add(dirReal);
      if (depth > maxDepth) {
        return stop(`${dir} is more than ${maxDepth} directory levels below ${abs}; nothing was loaded`);
      }
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch (err) {
        problems.push(problem(dir, err));
        return;
      }
      if (!explicit && entries.some((e) => e.name === IGNORE_MARKER)) return;
      entriesSeen += entries.length;
      if (entriesSeen > maxEntries) {
        return stop(`more than ${maxEntries} directory entries under ${abs}; nothing was loaded`);
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const e of entries) {
        if (stopped) return;
        if (e.name.startsWith('.')) continue;
        const full = join(dir, e.name);
        let target = join(dirReal, e.name);
        let isDir = e.isDirectory();
        let isFile = e.isFile();
        if (e.isSymbolicLink()) {
          try {
            target = realpathSync(full);
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code;
            problems.push({
              path: full,
              code: 'path.dangling',
              message: `${e.name} is a symbolic link that leads nowhere (${code === 'ELOOP' ? 'a loop' : (code ?? 'error')}); what came from it keeps its last spec`,
            });
            continue;
          }
          if (!isInside(target, real)) {
            problems.push({
              path: full,
              code: 'path.outside-root',
              message: `${e.name} is a symbolic link out of the manifest directory (to ${target}); it is not followed`,
            });
            continue;
          }
          let st2;
          try {
            st2 = statSync(target);
          } catch {
            st2 = undefined;
          }
          isDir = st2?.isDirectory() ?? false;
          isFile = st2?.isFile() ?? false;
        }
        if (isDir) walk(full, target, depth + 1, false);
        else if (isFile && isManifestFileName(e.name)) {
          if (++found > maxFiles)
            return stop(`more than ${maxFiles} manifest files under ${abs}; nothing was loaded`);
          addFile(full, real);
        }
      }
    };
    const before = files.length;
    walk(abs, real, 0, true);
    if (stopped) {
      // A partial walk is not the set: none of it is used.
      for (const f of files.splice(before)) {
        seenFiles.delete(f);
        roots.delete(f);
      }
      problems.push(stopped);
    }
  }
  return { files, problems, roots };
}

function problem(path: string, err: unknown): PathProblem {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return { path, code: 'path.missing', message: `${basename(path)}: no such file or directory` };
  }
  return { path, code: 'path.unreadable', message: `cannot read ${basename(path)}: ${code ?? String(err)}` };
}
