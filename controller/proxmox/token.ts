/**
 * API tokens: USER@REALM!TOKENID=SECRET. Read from a file or WORKERCTL_TOKEN, validated, and never
 * echoed in an error (only the token id is named).
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';

export interface ParsedToken {
  /** user@realm!tokenid (not secret). */
  tokenId: string;
  user: string;
  realm: string;
  name: string;
  secret: string;
  /** The full USER@REALM!TOKENID=SECRET. */
  value: string;
}

// user@realm!tokenid=secret; the secret is split at the LAST '=' like PVE does.
const TOKEN_RE = /^([^@\s!=]+)@([A-Za-z][A-Za-z0-9.\-_]*)!([A-Za-z][A-Za-z0-9.\-_]*)=(\S+)$/;

/**
 * Parses and validates a token. `where` names its origin (a file path, an env variable) for the
 * error message, which never contains the secret.
 */
export function parseToken(raw: string, where = 'token'): ParsedToken {
  let text = raw.trim();
  text = text.replace(/^PVEAPIToken[= ]/, '');
  const m = TOKEN_RE.exec(text);
  if (!m) {
    const hint = text.includes('!')
      ? 'expected USER@REALM!TOKENID=SECRET'
      : 'expected USER@REALM!TOKENID=SECRET (the token id and its secret joined by "=")';
    throw new ConfigError(`invalid proxmox api token in ${where}: ${hint}`);
  }
  const [, user, realm, name, secret] = m as unknown as [string, string, string, string, string];
  const tokenId = `${user}@${realm}!${name}`;
  return { tokenId, user, realm, name, secret, value: `${tokenId}=${secret}` };
}

/**
 * Reads the API token: from `tokenFile` if given, else from WORKERCTL_TOKEN in `env`.
 * Throws ConfigError naming the source when missing, unreadable or malformed.
 */
export function readToken(opts: { tokenFile?: string; env?: NodeJS.ProcessEnv }): ParsedToken {
  const env = opts.env ?? process.env;
  if (opts.tokenFile) {
    let text: string;
    try {
      text = readFileSync(opts.tokenFile, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new ConfigError(`cannot read token file ${opts.tokenFile}: ${code}`);
    }
    if (!text.trim()) throw new ConfigError(`token file ${opts.tokenFile} is empty`);
    return parseToken(text, `token file ${opts.tokenFile}`);
  }
  const fromEnv = env.WORKERCTL_TOKEN;
  if (fromEnv && fromEnv.trim()) return parseToken(fromEnv, 'WORKERCTL_TOKEN');
  throw new ConfigError('no proxmox api token: pass --token-file FILE or set WORKERCTL_TOKEN');
}
