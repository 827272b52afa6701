/**
 * Manifests that arrive as bytes rather than files (`POST /v1/plan`): checked exactly as the same
 * files on disk would be (the size limit of read.ts, parse.ts and check.ts per file, the checks
 * across files of load.ts), so a pull request's plan reports the same diagnostics at the same
 * file:line:col as `workerctl validate` on its checkout.
 */
import type { LoadResult } from '../types.js';
import { assembleLoad, problemResult, type LoadOptions } from './load.js';
import { parseFile } from './parse.js';
import { DEFAULT_MAX_FILE_BYTES, tooLargeProblem } from './read.js';

export interface ManifestBytes {
  /** The path it is loaded as (what diagnostics and sources name). */
  file: string;
  bytes: Uint8Array;
  /** The sender could not read it (too large, unreadable): the file is invalid, with this problem. */
  unreadable?: { code: string; message: string };
}

/** Loads manifests held in memory, in the order given. */
export function loadManifestBytes(files: readonly ManifestBytes[], opts: LoadOptions = {}): LoadResult {
  const max = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const results = files.map((f) => {
    if (f.unreadable) {
      const { code, message } = f.unreadable;
      return problemResult({ file: f.file, line: 1, col: 1, pointer: '', severity: 'error', code, message });
    }
    return f.bytes.length > max
      ? problemResult(tooLargeProblem(f.file, max))
      : parseFile(f.file, f.bytes, opts);
  });
  return assembleLoad(
    results,
    [],
    files.map((f) => f.file),
    opts,
  );
}
