/**
 * Reading one manifest file: its bytes within the size limit, with the stat taken before reading
 * them (the cached loader compares it later). A file that cannot be read becomes a diagnostic.
 */
import fs from 'node:fs';
import type { Diagnostic } from '../types.js';

export interface ReadOptions {
  /** Files larger than this are rejected (default 1 MiB). */
  maxFileBytes?: number;
}

/** Default size limit of one manifest file. */
export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024;

/** What readManifestFile found: the bytes and the stat taken before reading them, or a problem. */
export type ReadOutcome = { bytes: Uint8Array; stat: fs.Stats } | { problem: Diagnostic };

/** Reads one manifest file within the size limit; a file that cannot be read becomes a problem. */
export async function readManifestFile(file: string, opts: ReadOptions = {}): Promise<ReadOutcome> {
  const maxBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  try {
    return outcome(file, maxBytes, await readLimited(file, maxBytes));
  } catch (err) {
    return unreadable(file, err);
  }
}

/**
 * readManifestFile without leaving the event loop: for the few files a save changed, whose
 * asynchronous reads (six calls each, one after another) would queue in libuv's 4 threads behind the
 * watcher's listing of their directory (an lstat per entry after every event in it).
 */
export function readManifestFileSync(file: string, opts: ReadOptions = {}): ReadOutcome {
  const maxBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  try {
    return outcome(file, maxBytes, readLimitedSync(file, maxBytes));
  } catch (err) {
    return unreadable(file, err);
  }
}

function outcome(
  file: string,
  maxBytes: number,
  read: { bytes: Uint8Array; stat: fs.Stats } | 'too-large' | 'changing',
): ReadOutcome {
  if (read === 'changing') {
    return {
      problem: fileProblem(
        file,
        'file.changing',
        'the file changed while it was read; its workers keep their last spec until it is read whole',
        'it is read again when the writer is done',
      ),
    };
  }
  if (read === 'too-large') return { problem: tooLargeProblem(file, maxBytes) };
  return read;
}

function unreadable(file: string, err: unknown): ReadOutcome {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  return {
    problem: fileProblem(
      file,
      code === 'ENOENT' ? 'path.missing' : 'file.unreadable',
      `cannot read file: ${code}`,
      'check that the file exists and is readable',
    ),
  };
}

/** readLimited, synchronously; opened non-blocking, so a FIFO put in a file's place cannot hang the loop. */
function readLimitedSync(
  file: string,
  maxBytes: number,
): { bytes: Uint8Array; stat: fs.Stats } | 'too-large' | 'changing' {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const st = fs.fstatSync(fd);
    if (st.size > maxBytes) return 'too-large';
    const chunks: Buffer[] = [];
    let total = 0;
    // As readLimited: one byte more than the size first, a short read is the end of the file.
    for (let size = st.size + 1; ; size = 64 * 1024) {
      const buf = Buffer.allocUnsafe(size);
      const n = fs.readSync(fd, buf, 0, size, null);
      if (n > 0) chunks.push(buf.subarray(0, n));
      total += n;
      if (total > maxBytes) return 'too-large';
      if (n < size) break;
    }
    const after = fs.fstatSync(fd);
    const named = fs.statSync(file, { throwIfNoEntry: false });
    const same =
      after.size === st.size &&
      after.mtimeMs === st.mtimeMs &&
      total === st.size &&
      named?.ino === after.ino &&
      named.dev === after.dev;
    if (!same) return 'changing';
    return { bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), stat: st };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads a whole file unless it is larger than maxBytes (checked before reading, and again on the
 * bytes read, for a file that grows meanwhile). Callback fs: far less overhead per small file than
 * fs/promises FileHandles.
 */
function readLimited(
  file: string,
  maxBytes: number,
): Promise<{ bytes: Uint8Array; stat: fs.Stats } | 'too-large' | 'changing'> {
  return new Promise((resolveRead, reject) => {
    fs.open(file, 'r', (err, fd) => {
      if (err) return reject(err);
      const done = (
        e: Error | null,
        result?: { bytes: Uint8Array; stat: fs.Stats } | 'too-large' | 'changing',
      ): void => {
        fs.close(fd, () => (e ? reject(e) : resolveRead(result!)));
      };
      fs.fstat(fd, (e1, st) => {
        if (e1) return done(e1);
        if (st.size > maxBytes) return done(null, 'too-large');
        const chunks: Buffer[] = [];
        let total = 0;
        // The first read asks for one byte more than the size: a short read means end of file.
        const step = (size: number): void => {
          const buf = Buffer.allocUnsafe(size);
          fs.read(fd, buf, 0, size, null, (e2, n) => {
            if (e2) return done(e2);
            if (n > 0) chunks.push(buf.subarray(0, n));
            total += n;
            if (total > maxBytes) return done(null, 'too-large');
            if (n < size) {
              const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
              return settled(fd, file, st, total, (same) =>
                done(null, same ? { bytes, stat: st } : 'changing'),
              );
            }
            step(64 * 1024); // the file grew since fstat
          });
        };
        step(st.size + 1);
      });
    });
  });
}

/** The diagnostic of a file over the size limit (read from disk or posted to the API). */
export function tooLargeProblem(file: string, maxBytes: number): Diagnostic {
  return fileProblem(
    file,
    'file.too-large',
    `file is larger than the limit of ${maxBytes} bytes`,
    'split the manifests over several files',
  );
}

/**
 * Whether the bytes read are the file as it stands: the open file was not written meanwhile (size
 * and mtime as before), and the path still names it (not replaced by a rename). A file being
 * rewritten in place (truncate, pause, write) is caught here rather than taken half-written.
 */
function settled(
  fd: number,
  file: string,
  before: fs.Stats,
  read: number,
  cb: (same: boolean) => void,
): void {
  fs.fstat(fd, (e1, after) => {
    if (e1 || after.size !== before.size || after.mtimeMs !== before.mtimeMs || read !== before.size)
      return cb(false);
    fs.stat(file, (e2, named) => cb(!e2 && named.ino === after.ino && named.dev === after.dev));
  });
}

function fileProblem(file: string, code: string, message: string, hint: string): Diagnostic {
  return { file, line: 1, col: 1, pointer: '', severity: 'error', code, message, hint };
}
