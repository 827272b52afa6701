/**
 * Authentication as pve-manager PVE/HTTPServer.pm auth_handler does it: API tokens
 * (`PVEAPIToken=USER@REALM!ID=SECRET`, pve-http-server Formatter.pm extract_auth_value; no CSRF check) make
 * the token id `user@realm!id` the request's user; tickets from POST /access/ticket (`PVE:user:HEXTIME::sig`,
 * 2 h, pve-access-control PVE/AccessControl.pm) need a CSRFPreventionToken on non-GET requests.
 * No permission model beyond "valid credential" (root-only options are checked by the handlers).
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { authError } from './http/api-error.js';

/** Who made a request. */
export interface Caller {
  /** user@realm, or user@realm!tokenid for tokens (the UPID user). */
  user: string;
  kind: 'token' | 'ticket';
}

const TICKET_LIFETIME_S = 7200;

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Parses `USER@REALM!TOKENID=SECRET` (split at the last '='). */
export function parseToken(value: string): { tokenid: string; secret: string } | undefined {
  const eq = value.lastIndexOf('=');
  if (eq <= 0) return undefined;
  const tokenid = value.slice(0, eq);
  if (!/^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+![A-Za-z][A-Za-z0-9.\-_]+$/.test(tokenid)) return undefined;
  return { tokenid, secret: value.slice(eq + 1) };
}

/** Credentials and ticket signing. */
export class Auth {
  readonly token: string;
  readonly users: Record<string, string>;
  private readonly tokens = new Map<string, string>();
  private readonly key = randomBytes(32);

  constructor(token: string | undefined, users: Record<string, string> | undefined) {
    this.token = token ?? `root@pam!workerctl=${randomUUID()}`;
    const parsed = parseToken(this.token);
    if (!parsed)
      throw new Error(
        `invalid simulator token '${this.token.split('=')[0]}=...': want USER@REALM!TOKENID=SECRET`,
      );
    this.tokens.set(parsed.tokenid, parsed.secret);
    this.users = users ?? { 'root@pam': randomUUID().replace(/-/g, '').slice(0, 20) };
  }

  /** Adds another accepted token. */
  addToken(token: string): void {
    const parsed = parseToken(token);
    if (!parsed) throw new Error('invalid token: want USER@REALM!TOKENID=SECRET');
    this.tokens.set(parsed.tokenid, parsed.secret);
  }

  private sign(data: string): string {
    return createHmac('sha256', this.key).update(data).digest('base64');
  }

  /** A ticket for `user`. */
  ticketFor(user: string, now = Date.now()): string {
    const plain = `PVE:${user}:${Math.floor(now / 1000)
      .toString(16)
      .toUpperCase()
      .padStart(8, '0')}`;
    return `${plain}::${this.sign(plain)}`;
  }

  /** The user of a valid, unexpired ticket. */
  verifyTicket(ticket: string, now = Date.now()): string | undefined {
    const m = /^(PVE:([^:]+):([0-9A-F]{8}))::(.+)$/.exec(ticket);
    if (!m || !safeEqual(this.sign(m[1]), m[4])) return undefined;
    const age = now / 1000 - parseInt(m[3], 16);
    return age >= -300 && age < TICKET_LIFETIME_S ? m[2] : undefined;
  }

  /** The CSRF prevention token for `user`. */
  csrfFor(user: string, now = Date.now()): string {
    const t = Math.floor(now / 1000)
      .toString(16)
      .toUpperCase()
      .padStart(8, '0');
    return `${t}:${this.sign(`${t}:${user}`).replace(/=+$/, '')}`;
  }

  private verifyCsrf(user: string, token: string, now = Date.now()): boolean {
    const m = /^([0-9A-F]{8}):(.+)$/.exec(token);
    if (!m) return false;
    const age = now / 1000 - parseInt(m[1], 16);
    return (
      age >= -300 &&
      age < TICKET_LIFETIME_S &&
      safeEqual(this.sign(`${m[1]}:${user}`).replace(/=+$/, ''), m[2])
    );
  }

  /** POST /access/ticket: password login, or renewal with the current ticket as password. */
  login(username: string, password: string, realm?: string): { user: string } | undefined {
    const user = username.includes('@') ? username : `${username}@${realm ?? 'pam'}`;
    const known = this.users[user];
    if (known !== undefined && safeEqual(known, password)) return { user };
    if (password.startsWith('PVE:') && this.verifyTicket(password) === user) return { user };
    return undefined;
  }

  /** Authenticates a request; throws the delayed 401 PVE would give. */
  authenticate(headers: IncomingHttpHeaders, method: string): Caller {
    const authz = headers.authorization;
    if (authz) {
      const m = /^PVEAPIToken[= ](.+)$/.exec(authz.trim());
      if (m) {
        let value = m[1];
        try {
          value = decodeURIComponent(value);
        } catch {
          /* keep raw */
        }
        const parsed = parseToken(value);
        const secret = parsed && this.tokens.get(parsed.tokenid);
        if (!parsed || secret === undefined || !safeEqual(secret, parsed.secret))
          throw authError('Authentication failed!');
        return { user: parsed.tokenid, kind: 'token' };
      }
    }
    let ticket: string | undefined;
    const cookie = headers.cookie;
    if (cookie) {
      for (const part of cookie.split(';')) {
        const [k, ...rest] = part.trim().split('=');
        if (k === 'PVEAuthCookie') ticket = rest.join('=');
      }
    }
    if (!ticket && authz) {
      const m = /^PVEAuthCookie=(.+)$/.exec(authz.trim());
      if (m) ticket = m[1];
    }
    if (!ticket) throw authError('No ticket');
    try {
      ticket = decodeURIComponent(ticket);
    } catch {
      /* keep raw */
    }
    const user = this.verifyTicket(ticket);
    if (!user) throw authError('Authentication failed!');
    if (method !== 'GET') {
      const csrf = headers.csrfpreventiontoken;
      const value = Array.isArray(csrf) ? csrf[0] : csrf;
      if (!value || !this.verifyCsrf(user, value)) throw authError('Permission denied - invalid csrf token');
    }
    return { user, kind: 'ticket' };
  }
}
