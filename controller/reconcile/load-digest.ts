/**
 * What a manifest load says, file by file, in the terms the merge (desired-state.ts) reads: each
 * file's workers (name, spec hash, place) and the paths whose workers keep their last spec (invalid
 * paths and empty files). Two digests compared give the paths whose merge outcome may differ: the
 * intake merges only the workers of those (intake.ts). Derived from the load's result, not from which
 * files the loader read again, so a file whose validity changed because another file changed (a
 * duplicate name added or removed elsewhere) counts as changed too. Pure.
 */
import { sep } from 'node:path';
import { EMPTY_FILE_CODE, type LoadResult } from '../types.js';

export interface LoadDigest {
  /** Per manifest file (every file of the load), its workers as the merge reads them. */
  files: Map<string, string>;
  /** Paths whose workers keep their last spec: invalid files and paths, empty files. */
  shields: Set<string>;
}

export function digestLoad(load: LoadResult): LoadDigest {
  const parts = new Map<string, string[]>();
  for (const f of load.files) parts.set(f, []);
  for (const w of load.workers) {
    const list = parts.get(w.source.file) ?? [];
    list.push(`${w.spec.name}\0${w.specHash}\0${w.source.line}:${w.source.col}`);
    parts.set(w.source.file, list);
  }
  const files = new Map<string, string>();
  for (const [f, list] of parts) files.set(f, list.join('\n'));
  const shields = new Set([
    ...load.invalidFiles,
    ...load.diagnostics.filter((d) => d.code === EMPTY_FILE_CODE).map((d) => d.file),
  ]);
  return { files, shields };
}

/**
 * The paths whose workers may merge differently under `next` than under `prev`: files that appeared,
 * vanished or declare other workers (or the same at another place), and paths that became or stopped
 * being a shield (a directory path covers what is under it: see `covers`).
 */
export function changedPaths(prev: LoadDigest, next: LoadDigest): Set<string> {
  const out = new Set<string>();
  for (const [f, d] of next.files) if (prev.files.get(f) !== d) out.add(f);
  for (const f of prev.files.keys()) if (!next.files.has(f)) out.add(f);
  for (const s of next.shields) if (!prev.shields.has(s)) out.add(s);
  for (const s of prev.shields) if (!next.shields.has(s)) out.add(s);
  return out;
}

/** True when `file` is one of `paths` or lies under one of them. */
export function covers(paths: ReadonlySet<string>, file: string | undefined): boolean {
  if (file === undefined) return false;
  if (paths.has(file)) return true;
  for (const p of paths) if (file.startsWith(p.endsWith(sep) ? p : p + sep)) return true;
  return false;
}
