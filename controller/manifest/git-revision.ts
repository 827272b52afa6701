/**
 * The Git commit a manifest directory is checked out at, read from the repository's files (no `git`
 * needed on the host): find `.git` above the directory's real path, follow a `.git` file (`gitdir:`,
 * as `git worktree add` and submodules write it; git-sync publishes each revision as a worktree with
 * a detached HEAD), read HEAD, and resolve a symbolic ref through the loose refs and `packed-refs`
 * of the common directory (`commondir`, shared by all worktrees of a repository). The layout is
 * git's own (git's Documentation/gitrepository-layout.txt); anything unexpected gives undefined.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { GitRevision } from '../types.js';

const COMMIT = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
/** Symbolic refs followed before giving up (a loop, or a chain nobody writes). */
const MAX_REF_DEPTH = 5;

// Synchronous reads of a few small files: beside a reload's load pass, asynchronous ones would wait in
// libuv's 4 threads behind the watcher's re-listing of the manifest directory after a save.
function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function statOrUndefined(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** The git directory of the checkout holding `dir` (its real path), or undefined. */
export async function findGitDir(dir: string): Promise<string | undefined> {
  let cur: string;
  try {
    cur = realpathSync(dir);
    if (!statSync(cur).isDirectory()) cur = dirname(cur);
  } catch {
    return undefined;
  }
  for (;;) {
    const dotGit = join(cur, '.git');
    const st = statOrUndefined(dotGit);
    if (st?.isDirectory()) return dotGit;
    if (st?.isFile()) {
      const m = /^gitdir:\s*(.+?)\s*$/m.exec(readText(dotGit) ?? '');
      if (!m) return undefined;
      return isAbsolute(m[1]!) ? m[1]! : resolve(cur, m[1]!);
    }
    const up = dirname(cur);
    if (up === cur) return undefined;
    cur = up;
  }
}

/** The directory holding refs and packed-refs: the main repository's for a worktree. */
function commonDir(gitDir: string): string {
  const text = readText(join(gitDir, 'commondir'))?.trim();
  if (!text) return gitDir;
  return isAbsolute(text) ? text : resolve(gitDir, text);
}

/** A ref's value (a commit or `ref: ...`), from the loose file or packed-refs. */
function readRef(gitDir: string, common: string, ref: string): string | undefined {
  if (ref.includes('..') || ref.startsWith('/')) return undefined;
  for (const dir of gitDir === common ? [gitDir] : [gitDir, common]) {
    const loose = readText(join(dir, ref))?.trim();
    if (loose) return loose;
  }
  const packed = readText(join(common, 'packed-refs'));
  for (const line of (packed ?? '').split('\n')) {
    const [id, name] = line.trim().split(/\s+/);
    if (name === ref && id && COMMIT.test(id)) return id;
  }
  return undefined;
}

/** The commit HEAD of the checkout holding `dir` points at, or undefined when there is none. */
export async function gitRevision(dir: string): Promise<GitRevision | undefined> {
  const gitDir = await findGitDir(dir);
  if (!gitDir) return undefined;
  const common = commonDir(gitDir);
  let value = readText(join(gitDir, 'HEAD'))?.trim();
  let branch: string | undefined;
  for (let depth = 0; value && depth < MAX_REF_DEPTH; depth++) {
    if (COMMIT.test(value)) {
      const rev: GitRevision = { commit: value };
      if (branch) rev.ref = branch;
      return rev;
    }
    const m = /^ref:\s*(\S+)$/.exec(value);
    if (!m) return undefined;
    branch ??= m[1]!.replace(/^refs\/heads\//, '');
    value = readRef(gitDir, common, m[1]!);
  }
  return undefined;
}

/** The revision of the first path (of several manifest paths) that lies in a Git checkout. */
export async function manifestRevision(paths: readonly string[]): Promise<GitRevision | undefined> {
  for (const p of paths) {
    const rev = await gitRevision(p);
    if (rev) return rev;
  }
  return undefined;
}
