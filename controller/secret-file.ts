/**
 * A manifest's passwordFile is confined to the manifest repository (issue 11 point 2): whoever can
 * write a manifest (a pull request) must not be able to make the controller read one of its own
 * files (/proc/self/environ, the Proxmox token file, /etc/shadow) into a guest and to a proxy the
 * manifest names, nor /dev/zero. So the file must be, when validated and again each time it is
 * read: a regular file, at most MAX_SECRET_FILE_BYTES, whose real path (symlinks resolved) is inside
 * the real path of the manifest directory it belongs to. Validation reports a breach at the
 * passwordFile's file:line:col; reading refuses it.
 */
import fs from 'node:fs';
import { realpath } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { ConfigError } from './errors.js';

/** True when `path` is `root` or inside it (both real paths). */
export function isInside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** A password file larger than this is refused. */
export const MAX_SECRET_FILE_BYTES = 4096;

/**
 * The real paths of the roots a set of manifest paths stands for: a directory itself, a file its
 * directory. Resolved at each use: a root that is a symlink swapped to a new checkout follows it.
 */
export async function manifestRoots(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    const abs = resolve(p);
    try {
      const st = await fs.promises.stat(abs);
      out.push(await realpath(st.isDirectory() ? abs : dirname(abs)));
    } catch {
      // A root that is gone confines nothing.
    }
  }
  return out;
}

/** Why `file` may not serve as a password file for manifests under `roots`, or undefined when it may. */
export async function secretFileProblem(file: string, roots: readonly string[]): Promise<string | undefined> {
  let real: string;
  try {
    real = await realpath(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT'
      ? `passwordFile ${file} does not exist`
      : `passwordFile ${file} cannot be read (${code})`;
  }
  if (!roots.some((root) => isInside(real, root))) {
    return `passwordFile ${file} is outside the manifest directory${real !== file ? ` (it leads to ${real})` : ''}; keep the password file in the manifest repository`;
  }
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(real);
  } catch (err) {
    return `passwordFile ${file} cannot be read (${(err as NodeJS.ErrnoException).code})`;
  }
  if (!st.isFile()) return `passwordFile ${file} is not a regular file`;
  if (st.size > MAX_SECRET_FILE_BYTES)
    return `passwordFile ${file} is larger than ${MAX_SECRET_FILE_BYTES} bytes; it should hold one password`;
  return undefined;
}

/**
 * Reads a password file under the same rules, at use time (the file may have changed since it was
 * validated). `roots` undefined: no directory to confine to (callers outside the controller); the
 * other rules still hold. The file is opened by its real path without following a final symlink and
 * without blocking (a FIFO does not hang us), and read only up to the limit.
 */
export async function readSecretFile(file: string, roots: readonly string[] | undefined): Promise<string> {
  const problem = roots ? await secretFileProblem(file, roots) : undefined;
  if (problem) throw new ConfigError(`unable to use the proxy password file: ${problem}`);
  let real: string;
  try {
    real = await realpath(file);
  } catch (err) {
    throw new ConfigError(
      `unable to read the proxy password file ${file}: ${(err as NodeJS.ErrnoException).code}`,
    );
  }
  const flags = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(real, flags);
  } catch (err) {
    throw new ConfigError(
      `unable to read the proxy password file ${file}: ${(err as NodeJS.ErrnoException).code}`,
    );
  }
  try {
    const st = await handle.stat();
    if (!st.isFile())
      throw new ConfigError(`unable to use the proxy password file: ${file} is not a regular file`);
    const buf = Buffer.alloc(MAX_SECRET_FILE_BYTES + 1);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    if (bytesRead > MAX_SECRET_FILE_BYTES)
      throw new ConfigError(
        `unable to use the proxy password file: ${file} is larger than ${MAX_SECRET_FILE_BYTES} bytes`,
      );
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}
