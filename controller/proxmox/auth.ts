/**
 * Authentication headers (pve-access-control src/PVE/API2/AccessControl.pm create_ticket,
 * src/PVE/AccessControl.pm verify_csrf_prevention_token). Tokens: one Authorization header, no CSRF. Tickets: login
 * with POST /access/ticket, cookie PVEAuthCookie on every call, CSRFPreventionToken on non-GET only;
 * renewed after an hour (a ticket lives two) or after a 401.
 */
import type { Clock } from '../clock.js';
import { AuthError } from '../errors.js';
import type { ProxmoxAuth } from './options.js';
import { parseToken } from './token.js';

/** Supplies auth headers per request. */
export interface AuthProvider {
  /** Headers for one request. */
  headers(method: string): Promise<Record<string, string>>;
  /** Called after a 401: true when fresh credentials were obtained and the call may be resent. */
  refresh(): Promise<boolean>;
  /** Safe to print (token id or user, never the secret). */
  readonly describe: string;
}

/** What ticket auth needs from the transport: an unauthenticated form POST to /access/ticket. */
export type LoginFn = (username: string, password: string) => Promise<{ ticket: string; csrf: string }>;

/** Ticket lifetime is 2 h; renew after 1 h like proxmoxer. */
const TICKET_RENEW_MS = 3600_000;

class TokenAuthProvider implements AuthProvider {
  readonly describe: string;
  readonly #header: string;
  constructor(token: string) {
    const parsed = parseToken(token, 'auth.token');
    this.describe = `token ${parsed.tokenId}`;
    this.#header = `PVEAPIToken=${parsed.value}`;
  }
  headers(): Promise<Record<string, string>> {
    return Promise.resolve({ authorization: this.#header });
  }
  refresh(): Promise<boolean> {
    return Promise.resolve(false);
  }
}

class TicketAuthProvider implements AuthProvider {
  readonly describe: string;
  #ticket?: { ticket: string; csrf: string; at: number };
  #pending?: Promise<{ ticket: string; csrf: string; at: number }>;

  constructor(
    private readonly username: string,
    private readonly password: string,
    private readonly login: LoginFn,
    private readonly clock: Clock,
  ) {
    this.describe = `user ${username}`;
  }

  async #current(): Promise<{ ticket: string; csrf: string }> {
    const t = this.#ticket;
    if (t && this.clock.now() - t.at < TICKET_RENEW_MS) return t;
    this.#pending ??= this.login(this.username, this.password)
      .then((r) => ({ ...r, at: this.clock.now() }))
      .finally(() => {
        this.#pending = undefined;
      });
    this.#ticket = await this.#pending;
    return this.#ticket;
  }

  async headers(method: string): Promise<Record<string, string>> {
    const t = await this.#current();
    const h: Record<string, string> = { cookie: `PVEAuthCookie=${t.ticket}` };
    if (method !== 'GET') h.csrfpreventiontoken = t.csrf;
    return h;
  }

  async refresh(): Promise<boolean> {
    this.#ticket = undefined;
    try {
      await this.#current();
      return true;
    } catch (err) {
      if (err instanceof AuthError) return false;
      throw err;
    }
  }
}

/** Builds the provider for the configured auth kind. */
export function createAuthProvider(auth: ProxmoxAuth, login: LoginFn, clock: Clock): AuthProvider {
  if (auth.kind === 'token') return new TokenAuthProvider(auth.token);
  return new TicketAuthProvider(auth.username, auth.password, login, clock);
}
