/**
 * Loads Worker manifests: walk the paths (walk.ts) -> read each file (read.ts) -> parse and check
 * it (parse.ts, check.ts) -> the checks across files (unique names and addresses, semantic.ts) ->
 * LoadedWorker[], with every problem as a Diagnostic at file:line:col.
 *
 * Invariant 1: a file is all or nothing. A file with any error contributes no workers and is listed in
 * `invalidFiles`, so the controller keeps the last valid specs that came from it.
 */
import type { Diagnostic, LoadResult, LoadedWorker } from '../types.js';
import { displayPath } from './finding.js';
import {
  PASSWORD_FILE_POINTER,
  fullParse,
  parseFile,
  toDiagnostic,
  type Candidate,
  type FileResult,
  type ParseOptions,
} from './parse.js';
import { readManifestFile, type ReadOptions } from './read.js';
import { crossWorkerFindings, type WorkerIndexEntry } from './semantic.js';
import { resolve } from 'node:path';
import type { Finding } from './finding.js';
import { MAX_SECRET_FILE_BYTES, secretFileProblem } from '../secret-file.js';
import { collectManifestFiles, type PathProblem, type WalkLimits } from './walk.js';
import type { Span } from './yaml-locator.js';

/** Options of loadManifests. */
export interface LoadOptions extends ReadOptions, ParseOptions {
  /** How many files are read at once (default 32). */
  concurrency?: number;
  /** Bounds of the directory walk (walk.ts). */
  walk?: WalkLimits;
  /** All manifest files together at most this many bytes (default 64 MiB). */
  maxTotalBytes?: number;
}

const DEFAULT_CONCURRENCY = 32;
export const DEFAULT_MAX_TOTAL_BYTES = 64 * 1024 * 1024;

/** A finding of a candidate worker that the checks on disk made (its password file). */
export interface CandidateFinding {
  file: string;
  index: number;
  finding: Finding;
}

/**
 * Loads every manifest under `paths` (files, or directories walked recursively; see file-walk.ts).
 * Never throws for bad input: missing paths, unreadable files and invalid documents become
 * diagnostics. File paths in the result are absolute.
 */
export async function loadManifests(paths: string[], opts: LoadOptions = {}): Promise<LoadResult> {
  const { files, problems, roots } = await collectManifestFiles(paths, opts.walk);
  const limit = Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY);
  const results: FileResult[] = new Array<FileResult>(files.length);
  const sizes: number[] = new Array<number>(files.length).fill(0);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      const read = await readManifestFile(files[i]!, opts);
      sizes[i] = 'bytes' in read ? read.bytes.length : 0;
      results[i] = 'bytes' in read ? parseFile(files[i]!, read.bytes, opts) : problemResult(read.problem);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, files.length) }, worker));
  return finishLoad(paths, results, sizes, problems, roots, files, opts);
}

/**
 * The steps after reading, common to loadManifests and the cached loader: the total size bound, the
 * password files on disk, then the checks across files.
 */
export async function finishLoad(
  paths: string[],
  results: FileResult[],
  sizes: number[],
  problems: PathProblem[],
  roots: Map<string, string>,
  files: string[],
  opts: LoadOptions,
): Promise<LoadResult> {
  const maxTotal = opts.maxTotalBytes ?? DEFAULT_MAX_TOTAL_BYTES;
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total > maxTotal) {
    // On every root: nothing of the set is used, and nothing that came from it looks removed.
    const over: PathProblem[] = paths.map((p) => ({
      path: resolve(p),
      code: 'path.limit',
      message: `the manifest files add up to ${total} bytes, more than the limit of ${maxTotal}; nothing was loaded`,
    }));
    return assembleLoad([], pathDiagnostics([...problems, ...over]), [], opts);
  }
  const found = await passwordFileFindings(results, roots);
  return assembleLoad(results, pathDiagnostics(problems), files, opts, found);
}

/** Each worker's passwordFile checked on disk against the root its manifest was found under, all at once. */
async function passwordFileFindings(
  results: FileResult[],
  roots: Map<string, string>,
): Promise<CandidateFinding[]> {
  const checks: Promise<CandidateFinding | undefined>[] = [];
  for (const r of results) {
    for (const [index, c] of r.candidates.entries()) {
      const file = c.worker.spec.updates.proxy?.passwordFile;
      if (file === undefined) continue;
      const root = roots.get(r.file);
      checks.push(
        secretFileProblem(file, root ? [root] : []).then((problem) =>
          problem ? passwordFileFinding(r.file, index, problem) : undefined,
        ),
      );
    }
  }
  return (await Promise.all(checks)).filter((f): f is CandidateFinding => f !== undefined);
}

function passwordFileFinding(file: string, index: number, problem: string): CandidateFinding {
  return {
    file,
    index,
    finding: {
      pointer: PASSWORD_FILE_POINTER,
      severity: 'error',
      code: 'semantic.password-file',
      message: problem,
      hint: `the password file must be a regular file of at most ${MAX_SECRET_FILE_BYTES} bytes inside the manifest directory`,
    },
  };
}

/** Diagnostics for paths that could not be walked. */
export function pathDiagnostics(problems: PathProblem[]): Diagnostic[] {
  return problems.map((p) => ({
    file: p.path,
    line: 1,
    col: 1,
    pointer: '',
    severity: 'error',
    code: p.code,
    message: p.message,
    hint: PATH_HINTS[p.code],
  }));
}

const PATH_HINTS: Record<PathProblem['code'], string | undefined> = {
  'path.missing': 'check the path; nothing under it was loaded',
  'path.unreadable': undefined,
  'path.limit':
    'keep the manifest directory to manifests (raise nothing: split the fleet over several directories)',
  'path.dangling': 'fix or remove the link; until then the workers that came from it keep their last spec',
  'path.outside-root': 'copy the files into the manifest directory instead of linking out of it',
};

/**
 * Validates the content of one file as if it were the whole manifest set (no disk access): for
 * editors, tests and callers that already hold the bytes.
 */
export function loadManifestSource(
  file: string,
  content: string | Uint8Array,
  opts: LoadOptions = {},
): LoadResult {
  const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
  return assembleLoad([parseFile(file, bytes, opts)], [], [file], opts);
}

/**
 * Runs the checks across files over every file's own result and builds the LoadResult. Does not
 * change `fileResults` (a cache may hand the same ones in again), except to remember spans it had to
 * locate, which are the same every time.
 */
export function assembleLoad(
  fileResults: FileResult[],
  extra: Diagnostic[],
  files: string[],
  opts: LoadOptions,
  candidateFindings: readonly CandidateFinding[] = [],
): LoadResult {
  const results = fileResults.map((r) => ({ ...r, diagnostics: [...r.diagnostics] }));
  const candidates: { file: FileResult; index: number }[] = [];
  for (const r of results) r.candidates.forEach((_, index) => candidates.push({ file: r, index }));
  const candidateOf = (entry: number): Candidate => {
    const { file, index } = candidates[entry]!;
    return file.candidates[index]!;
  };
  // Spans of a candidate from the fast path: parse its file again with the full parser (rare: only
  // when a finding across files points at it).
  const spansOf = (entry: number): Map<string, Span> => {
    const c = candidateOf(entry);
    if (c.spans) return c.spans;
    const { file } = candidates[entry]!;
    const full = fullParse(file.file, file.text ?? '', opts);
    file.candidates.forEach((cand, i) => {
      const located = full.candidates[i];
      cand.spans = located && located.worker.spec.name === cand.worker.spec.name ? located.spans : new Map();
      if (located) cand.document = located.document;
    });
    return c.spans ?? new Map<string, Span>();
  };
  const entries: WorkerIndexEntry[] = candidates.map((_, i) => ({
    name: candidateOf(i).worker.spec.name,
    addresses: candidateOf(i).addresses,
  }));
  const where = (entry: number, pointer: string): string =>
    at(candidates[entry]!.file.file, spansOf(entry).get(pointer));
  for (const { entry, finding } of crossWorkerFindings(entries, where)) {
    const { file } = candidates[entry]!;
    const c = candidateOf(entry);
    const src = c.worker.source;
    const span = spansOf(entry).get(finding.pointer) ?? {
      line: src.line,
      col: src.col,
      endLine: src.line,
      endCol: src.col,
    };
    file.diagnostics.push(toDiagnostic(file.file, c.document, finding, span));
  }
  for (const cf of candidateFindings) {
    const entry = candidates.findIndex((c) => c.file.file === cf.file && c.index === cf.index);
    if (entry < 0) continue;
    const { file } = candidates[entry]!;
    const c = candidateOf(entry);
    const src = c.worker.source;
    const span = spansOf(entry).get(cf.finding.pointer) ?? {
      line: src.line,
      col: src.col,
      endLine: src.line,
      endCol: src.col,
    };
    file.diagnostics.push(toDiagnostic(file.file, c.document, cf.finding, span));
  }
  const diagnostics: Diagnostic[] = [...extra];
  const invalidFiles: string[] = extra.map((d) => d.file);
  const workers: LoadedWorker[] = [];
  for (const r of results) {
    r.diagnostics.sort((a, b) => a.line - b.line || a.col - b.col || a.code.localeCompare(b.code));
    diagnostics.push(...r.diagnostics);
    if (r.diagnostics.some((d) => d.severity === 'error')) invalidFiles.push(r.file);
    else for (const c of r.candidates) workers.push(c.worker);
  }
  return { workers, diagnostics, files, invalidFiles };
}

function at(file: string, span: Span | undefined): string {
  const shown = displayPath(file);
  return span ? `${shown}:${span.line}:${span.col}` : shown;
}

/** The FileResult of a file that could not be read. */
export function problemResult(problem: Diagnostic): FileResult {
  return { file: problem.file, candidates: [], diagnostics: [problem] };
}
