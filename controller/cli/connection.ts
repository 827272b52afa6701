/**
 * The connection flags every command that talks to Proxmox VE shares, and their environment
 * variables; compose/connection.ts turns them into a client.
 *
 * Flags (env): --server URL (WORKERCTL_SERVER), --token-file FILE (WORKERCTL_TOKEN_FILE; or the token
 * itself in WORKERCTL_TOKEN), --ca-file FILE (WORKERCTL_CA_FILE), --fingerprint SHA256
 * (WORKERCTL_FINGERPRINT), --insecure, --simulate, --state-dir DIR (default .workerctl). Under systemd,
 * the token may instead come from the credential `pve-token` ($CREDENTIALS_DIRECTORY/pve-token).
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_RATE_PER_NODE } from '../proxmox/node-budget.js';

export type { ConnectionOptions } from '../compose/connection.js';

export const DEFAULT_STATE_DIR = '.workerctl';

/** Adds the connection flags to a command. */
export function addConnectionOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--server <url>', 'Proxmox VE API, e.g. https://pve1:8006').env('WORKERCTL_SERVER'))
    .addOption(
      new Option(
        '--token-file <file>',
        'file holding the API token USER@REALM!TOKENID=SECRET (or put the token itself in WORKERCTL_TOKEN)',
      ).env('WORKERCTL_TOKEN_FILE'),
    )
    .addOption(
      new Option('--ca-file <file>', 'PEM CA certificate(s) to trust, e.g. pve-root-ca.pem').env(
        'WORKERCTL_CA_FILE',
      ),
    )
    .addOption(
      new Option(
        '--fingerprint <sha256>',
        "pin the server certificate's SHA-256 fingerprint (GET /nodes ssl_fingerprint)",
      ).env('WORKERCTL_FINGERPRINT'),
    )
    .addOption(
      new Option(
        '--user <user@realm>',
        'log in with a ticket as this user instead of a token (root@pam may remove locks no task holds: skiplock)',
      ).env('WORKERCTL_USER'),
    )
    .addOption(
      new Option(
        '--password-file <file>',
        'file holding the password of --user (never the password itself)',
      ).env('WORKERCTL_PASSWORD_FILE'),
    )
    .addOption(
      new Option(
        '--api-calls-per-node <n>',
        "protected API calls in flight per node (default 3: pvedaemon's workers)",
      ).argParser((v: string) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1)
          throw new InvalidArgumentError(`expected a whole number >= 1, got '${v}'`);
        return n;
      }),
    )
    .addOption(
      new Option(
        '--api-rate-per-node <n>',
        `API requests started per node and second (default ${DEFAULT_RATE_PER_NODE}; 0 = no limit)`,
      ).argParser((v: string) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0)
          throw new InvalidArgumentError(`expected a whole number >= 0, got '${v}'`);
        return n;
      }),
    )
    .option('--insecure', 'skip TLS verification (also allows http:// to a non-loopback host)')
    .option('--simulate', 'run against the embedded Proxmox VE simulator (no server needed)')
    .option('--state-dir <dir>', 'state directory', DEFAULT_STATE_DIR);
}
