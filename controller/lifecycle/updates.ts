/**
 * The update step of a test or session start: the command run in the worker through the guest agent,
 * with the worker's proxy passed along as http_proxy/https_proxy. The proxy URL (with its password,
 * read from passwordFile at use time) goes to the command's stdin, never into its argument list, a
 * log, the status or the database (invariant 5).
 */
import { manifestRoots, readSecretFile } from '../secret-file.js';
import type { ProxySpec } from '../types.js';

/** The worker image is Rocky Linux (README, "Tests, sessions and the HTTP API"): dnf, refreshing metadata first. */
export const DEFAULT_UPDATE_COMMAND: readonly string[] = ['dnf', '-y', 'upgrade', '--refresh'];

/** Reads the proxy line from stdin, exports it, then runs the real command unchanged ("$@"). */
const PROXY_WRAPPER =
  'IFS= read -r proxy; export http_proxy="$proxy" https_proxy="$proxy" HTTP_PROXY="$proxy" HTTPS_PROXY="$proxy"; exec "$@"';

export interface UpdateInvocation {
  /** The argument list sent to agent/exec (never holds a secret). */
  command: string[];
  /** stdin for the command: the proxy URL, when there is a proxy. */
  inputData?: string;
  /** The proxy as shown to people: host:port, never credentials. */
  proxyDisplay?: string;
}

/**
 * The proxy URL with credentials, e.g. http://user:secret@proxy.lan:3128. Reads passwordFile now,
 * confined to the manifest directories `manifestPaths` stand for (manifest/secret-file.ts).
 */
export async function proxyUrl(proxy: ProxySpec, manifestPaths?: readonly string[]): Promise<string> {
  let auth = '';
  if (proxy.username) {
    let password = '';
    if (proxy.passwordFile) {
      const roots = manifestPaths ? await manifestRoots(manifestPaths) : undefined;
      password = (await readSecretFile(proxy.passwordFile, roots)).replace(/\r?\n$/, '');
    }
    auth = `${encodeURIComponent(proxy.username)}${password ? ':' + encodeURIComponent(password) : ''}@`;
  }
  return `http://${auth}${proxy.host}:${proxy.port}`;
}

/** The command (and stdin) that installs updates in a worker. */
export async function updateInvocation(
  proxy: ProxySpec | undefined,
  command: readonly string[] = DEFAULT_UPDATE_COMMAND,
  manifestPaths?: readonly string[],
): Promise<UpdateInvocation> {
  if (!proxy) return { command: [...command] };
  return {
    command: ['/bin/sh', '-c', PROXY_WRAPPER, 'workerctl-update', ...command],
    inputData: (await proxyUrl(proxy, manifestPaths)) + '\n',
    proxyDisplay: `${proxy.host}:${proxy.port}`,
  };
}
