/**
 * Which files a set of manifest paths means. A file named explicitly is always loaded. A directory
 * is walked recursively in sorted order for *.yaml and *.yml, skipping hidden entries, editor
 * temporary files, and every subdirectory that contains a `.workerctl-ignore` file (a directory
 * named explicitly is loaded even if it has one).
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';

/** The marker file that keeps a subdirectory out of a directory walk. */
export const IGNORE_MARKER = '.workerctl-ignore';

/** A path that could not be read. */
export interface PathProblem {
  path: string;
  code: 'path.missing' | 'path.unreadable';
  message: string;
}

/** Result of expanding the paths: absolute file paths in deterministic order, and problems. */
export interface CollectedFiles {
  files: string[];
  problems: PathProblem[];
}

/** Whether a file name found in a walk is a manifest (not hidden, not an editor temp file). */
export function isManifestFileName(name: string): boolean {
  if (name.startsWith('.') || name.startsWith('#') || name.endsWith('~') || name === '4913') return false;
  return name.endsWith('.yaml') || name.endsWith('.yml');
}

/** Expands files and directories to the manifest files they hold (absolute, deduplicated, sorted per root). */
export async function collectManifestFiles(paths: string[]): Promise<CollectedFiles> {
  const files: string[] = [];
  const problems: PathProblem[] = [];
  const seenFiles = new Set<string>();
  const seenDirs = new Set<string>();
  const addFile = (f: string): void => {
    if (!seenFiles.has(f)) {
      seenFiles.add(f);
      files.push(f);
    }
  };

  const walk = async (dir: string, explicit: boolean): Promise<void> => {
    let real: string;
    try {
      real = await realpath(dir);
    } catch (err) {
      problems.push(problem(dir, err));
      return;
    }
    if (seenDirs.has(real)) return; // symlink loops, or the same directory twice
    seenDirs.add(real);
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      problems.push(problem(dir, err));
      return;
    }
    if (!explicit && entries.some((e) => e.name === IGNORE_MARKER)) return;
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = join(dir, e.name);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const st = await stat(full).catch(() => undefined);
        isDir = st?.isDirectory() ?? false;
        isFile = st?.isFile() ?? false;
      }
      if (isDir) await walk(full, false);
      else if (isFile && isManifestFileName(e.name)) addFile(full);
    }
  };

  for (const p of paths) {
    const abs = resolve(p);
    let st;
    try {
      st = await stat(abs);
    } catch (err) {
      problems.push(problem(abs, err));
      continue;
    }
    if (st.isDirectory()) await walk(abs, true);
    else addFile(abs);
  }
  return { files, problems };
}

function problem(path: string, err: unknown): PathProblem {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return { path, code: 'path.missing', message: `${basename(path)}: no such file or directory` };
  }
  return { path, code: 'path.unreadable', message: `cannot read ${basename(path)}: ${code ?? String(err)}` };
}
