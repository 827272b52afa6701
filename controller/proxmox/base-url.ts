/** The API base URL: accepts an origin or an origin with /api2/json, always yields ".../api2/json". */
import { UsageError } from '../errors.js';

/** Returns the normalised API base, e.g. https://pve1:8006/api2/json (no trailing slash). */
export function normaliseApiUrl(input: string): URL {
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    throw new UsageError(`invalid proxmox url '${input}': expected e.g. https://pve1:8006`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`invalid proxmox url '${input}': protocol must be https: or http:`);
  }
  if (url.username || url.password) {
    throw new UsageError('invalid proxmox url: credentials in the url are not supported; use a token');
  }
  let path = url.pathname.replace(/\/+$/, '');
  if (path.endsWith('/api2/json')) path = path.slice(0, -'/api2/json'.length);
  url.pathname = `${path}/api2/json`;
  url.search = '';
  url.hash = '';
  return url;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** True when the host is this machine (http:// is only allowed there unless insecure). */
export function isLoopbackHost(url: URL): boolean {
  return LOOPBACK.has(url.hostname) || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
}
