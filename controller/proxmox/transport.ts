/**
 * The single request choke point: builds the wire request (query for
 * GET/DELETE, form body for POST/PUT), adds auth, unwraps the {data} envelope, maps failures to typed
 * errors, retries only what retry-policy.ts allows, and reports every attempt to onCall.
 */
import http from 'node:http';
import type https from 'node:https';
import got, { type Got, type Response } from 'got';
import { systemClock, type Clock } from '../clock.js';
import { AuthError, ProxmoxError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { createAuthProvider, type AuthProvider } from './auth.js';
import { normaliseApiUrl } from './base-url.js';
import { mapErrorResponse, mapNetworkError } from './error-mapping.js';
import { toSearchParams, type Params } from './form.js';
import { asRecord } from './lenient.js';
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_RETRY,
  type CallInfo,
  type ProxmoxClientOptions,
  type RetryOptions,
} from './options.js';
import { NodeBudget } from './node-budget.js';
import { backoffDelay, defaultRetryClass, shouldRetry, type RetryClass } from './retry-policy.js';
import { buildTls } from './tls.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** One API call. */
export interface RequestSpec {
  /** Client operation name, for onCall and logs. */
  operation: string;
  method: HttpMethod;
  /** Path below /api2/json with encoded segments, e.g. /nodes/pve1/qemu/100/config. */
  path: string;
  params?: Params;
  /** Overrides the method's default retry class (PUT config uses 'lock-retry'). */
  retry?: RetryClass;
  /** Guest agent call: 500s map to AgentUnavailableError. */
  agentCall?: boolean;
  signal?: AbortSignal;
}

/** The decoded success envelope. */
export interface Envelope {
  data: unknown;
  /** Top-level `total` of list calls (task log). */
  total?: number;
}

/**
 * PVE closes idle keep-alive sockets after about 5 s; closing ours after 4 s avoids most races with
 * that, and the GET retry covers the rest.
 */
const FREE_SOCKET_TIMEOUT_MS = 4000;

const LOGIN_PATH = '/access/ticket';

export class Transport {
  readonly baseUrl: URL;
  readonly auth: AuthProvider;
  readonly tlsDescription: string;
  readonly #got: Got;
  readonly #httpAgent: http.Agent;
  readonly #httpsAgent: https.Agent;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #retry: RetryOptions;
  readonly #timeoutMs: number;
  readonly #onCall?: (info: CallInfo) => void;
  /** The per-node budget every attempt is made within. */
  readonly budget: NodeBudget;

  constructor(opts: ProxmoxClientOptions) {
    this.baseUrl = normaliseApiUrl(opts.url);
    this.#log = opts.logger ?? silentLogger();
    this.#clock = opts.clock ?? systemClock;
    this.budget =
      opts.budget instanceof NodeBudget
        ? opts.budget
        : new NodeBudget({ timeScale: opts.timeScale, clock: this.#clock, ...opts.budget });
    this.#retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.#timeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#onCall = opts.onCall;
    const agentOptions = {
      keepAlive: true,
      maxSockets: opts.maxSockets ?? 8,
      timeout: FREE_SOCKET_TIMEOUT_MS,
    };
    this.#httpAgent = new http.Agent(agentOptions);
    const tls = buildTls(opts.tls, agentOptions, this.#log);
    this.#httpsAgent = tls.agent;
    this.tlsDescription = this.baseUrl.protocol === 'https:' ? tls.describe : 'plain http';
    this.#got = got.extend({
      prefixUrl: this.baseUrl.href,
      throwHttpErrors: false,
      // got retries nothing itself: GET retries run in request() below with the injected clock, and a
      // non-idempotent method is never resent.
      retry: { limit: 0, methods: ['GET'] },
      timeout: { request: this.#timeoutMs },
      agent: { http: this.#httpAgent, https: this.#httpsAgent },
      https: tls.https,
      followRedirect: false,
      decompress: true,
      responseType: 'text',
      headers: { accept: 'application/json', 'user-agent': 'workerctl' },
    });
    this.auth = createAuthProvider(opts.auth, (u, p) => this.#login(u, p), this.#clock);
  }

  /** Sends one API call (with the allowed retries) and returns its envelope. */
  async request(spec: RequestSpec): Promise<Envelope> {
    const cls = spec.retry ?? defaultRetryClass(spec.method);
    let reauthed = false;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.budget.run(
          spec.method,
          spec.path,
          () => this.#attempt(spec, attempt, true),
          spec.signal,
        );
      } catch (err) {
        if (spec.signal?.aborted) throw spec.signal.reason;
        // A 401 means the call was not executed: after fresh credentials it may be resent once.
        // (Not when the login itself was refused: that would only repeat the refused login.)
        if (err instanceof AuthError && err.path !== LOGIN_PATH && !reauthed && (await this.auth.refresh())) {
          reauthed = true;
          attempt--;
          continue;
        }
        if (!shouldRetry(err, cls, attempt, this.#retry)) throw err;
        const delayMs = backoffDelay(attempt, this.#retry);
        this.#log.warn('proxmox call retried', {
          operation: spec.operation,
          method: spec.method,
          path: spec.path,
          attempt: attempt + 1,
          delayMs,
          err: (err as Error).message,
        });
        await this.#clock.sleep(delayMs, spec.signal);
      }
    }
  }

  /** Frees the keep-alive sockets. */
  close(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }

  async #attempt(spec: RequestSpec, attempt: number, authenticated: boolean): Promise<Envelope> {
    const started = performance.now();
    const report = (status: number | undefined, error?: Error) => {
      const durationMs = performance.now() - started;
      const info: CallInfo = {
        operation: spec.operation,
        method: spec.method,
        path: spec.path,
        durationMs,
        attempt,
      };
      if (status !== undefined) info.status = status;
      if (error) info.error = error;
      try {
        this.#onCall?.(info);
      } catch {
        // a metrics hook must never break a call
      }
      this.#log.debug('proxmox call', {
        operation: spec.operation,
        method: spec.method,
        path: spec.path,
        status,
        durationMs: Math.round(durationMs * 10) / 10,
        attempt,
        err: error?.message,
      });
    };

    const params = toSearchParams(spec.params);
    const hasBody = spec.method === 'POST' || spec.method === 'PUT';
    const headers: Record<string, string> = authenticated ? await this.auth.headers(spec.method) : {};
    if (hasBody) headers['content-type'] = 'application/x-www-form-urlencoded';
    let res: Response<string>;
    try {
      res = await this.#got(spec.path.replace(/^\/+/, ''), {
        method: spec.method,
        headers,
        // PVE refuses a body on GET/DELETE (501): their parameters go in the query.
        searchParams: hasBody ? undefined : params,
        body: hasBody ? params.toString() : undefined,
        signal: spec.signal,
      });
    } catch (err) {
      if (spec.signal?.aborted) throw spec.signal.reason;
      const mapped = mapNetworkError(err, spec.method, spec.path, this.#timeoutMs);
      report(undefined, mapped);
      throw mapped;
    }
    if (res.statusCode >= 400) {
      const mapped = mapErrorResponse(
        {
          method: spec.method,
          path: spec.path,
          status: res.statusCode,
          statusMessage: res.statusMessage,
          body: res.body,
        },
        spec.agentCall,
      );
      report(res.statusCode, mapped);
      throw mapped;
    }
    let envelope: Envelope;
    try {
      const parsed = asRecord(JSON.parse(res.body));
      if (!parsed || !('data' in parsed)) throw new Error('no data field');
      envelope = { data: parsed.data };
      if (typeof parsed.total === 'number') envelope.total = parsed.total;
      else if (typeof parsed.total === 'string' && /^\d+$/.test(parsed.total))
        envelope.total = Number(parsed.total);
    } catch {
      const err = new ProxmoxError(
        `proxmox ${spec.method} ${spec.path}: ${res.statusCode} answer is not a {"data": ...} json envelope`,
        { status: res.statusCode, method: spec.method, path: spec.path },
      );
      report(res.statusCode, err);
      throw err;
    }
    report(res.statusCode);
    return envelope;
  }

  async #login(username: string, password: string): Promise<{ ticket: string; csrf: string }> {
    const env = await this.#attempt(
      {
        operation: 'login',
        method: 'POST',
        path: LOGIN_PATH,
        params: { username, password },
      },
      0,
      false,
    );
    const data = asRecord(env.data);
    const ticket = data?.ticket;
    const csrf = data?.CSRFPreventionToken;
    if (typeof ticket !== 'string' || typeof csrf !== 'string') {
      throw new AuthError(`proxmox login as ${username} returned no ticket`, { path: LOGIN_PATH });
    }
    return { ticket, csrf };
  }
}
