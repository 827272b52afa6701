/**
 * Root hook (loaded by .mocharc.json): after the last test, anything still holding the event loop
 * (a server, a socket, a child process, a watcher, a timer a test forgot) would keep mocha from exiting,
 * and `make test` would hang with every test passed. After a grace period this names what is left on
 * stderr and ends the process with mocha's own result, so a leak is visible and can never hang CI.
 */
import type { RootHookObject } from 'mocha';

/** OPEN_HANDLES_GRACE_MS: how long the loop may stay held after the last test (its own test sets it short). */
const GRACE_MS = Number(process.env['OPEN_HANDLES_GRACE_MS'] ?? 10_000);

/** One line per live handle: its kind and what identifies it (address, command, path). */
export function describeHandles(): string[] {
  const getHandles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles;
  const handles = typeof getHandles === 'function' ? getHandles.call(process) : [];
  return handles.map((h) => {
    const o = h as Record<string, unknown> & { constructor?: { name?: string } };
    const kind = o.constructor?.name ?? typeof h;
    const parts: string[] = [kind];
    if (Array.isArray(o['spawnargs']))
      parts.push(`pid ${String(o['pid'])}: ${(o['spawnargs'] as string[]).join(' ')}`);
    if (typeof o['address'] === 'function') {
      try {
        parts.push(JSON.stringify((o['address'] as () => unknown).call(h)));
      } catch {
        // a closed handle has no address
      }
    }
    if (typeof o['remotePort'] === 'number')
      parts.push(`remote ${String(o['remoteAddress'])}:${o['remotePort']}`);
    if (typeof o['_idleTimeout'] === 'number') parts.push(`timeout ${o['_idleTimeout']} ms`);
    if (typeof o['fd'] === 'number') parts.push(`fd ${o['fd']}`);
    return parts.join(' ');
  });
}

function isStdio(line: string): boolean {
  return /^(WriteStream|ReadStream|Socket|TTY\w*)\b.*\bfd [0-2]$/.test(line);
}

export const mochaHooks: RootHookObject = {
  afterAll() {
    const timer = setTimeout(() => {
      const left = describeHandles().filter((l) => !isStdio(l));
      const resources = process.getActiveResourcesInfo();
      process.stderr.write(
        `open-handles: the process was still held ${GRACE_MS / 1000} s after the last test; ending it.\n` +
          `open-handles: resources ${JSON.stringify(resources)}\n` +
          left.map((l) => `open-handles:   ${l}\n`).join(''),
      );
      // mocha's own 'exit' listener sets the exit code from the failures.
      process.exit();
    }, GRACE_MS);
    timer.unref();
  },
};
