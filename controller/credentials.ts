/**
 * systemd credentials: a unit's `LoadCredential=NAME:PATH` puts the secret in
 * `$CREDENTIALS_DIRECTORY/NAME`, readable only by the service, never on a command line or in the
 * environment of other processes. workerctl looks there when no flag or variable names the file.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The credential names workerctl reads (the NAME of `LoadCredential=NAME:PATH`). */
export const CREDENTIAL = {
  /** The Proxmox VE API token, USER@REALM!TOKENID=SECRET (what --token-file holds). */
  proxmoxToken: 'pve-token',
  /** The bearer token of workerctl's own HTTP API (what --api-token-file holds). */
  apiToken: 'api-token',
  /** The Proxmox VE password of --user (what --password-file holds): ticket login, e.g. root@pam. */
  proxmoxPassword: 'pve-password',
} as const;

/** The file of credential `name` when systemd passed one, else undefined. */
export function credentialFile(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = env.CREDENTIALS_DIRECTORY;
  if (!dir) return undefined;
  const file = join(dir, name);
  return existsSync(file) ? file : undefined;
}
