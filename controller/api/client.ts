/**
 * The CLI's client of a running controller's HTTP API (`status`, `test`, `session`). The controller
 * is found by --controller, WORKERCTL_CONTROLLER or http://127.0.0.1:8080; the token comes from
 * --api-token-file, WORKERCTL_API_TOKEN, the systemd credential api-token or .workerctl/api-token. When nothing answers, the error
 * says so plainly (ControllerUnavailableError).
 */
import { existsSync } from 'node:fs';
import got, { HTTPError, RequestError } from 'got';
import { CREDENTIAL, credentialFile } from '../credentials.js';
import { ControllerUnavailableError, UsageError, WorkerctlError } from '../errors.js';
import type { SessionKind, SessionRecord, TestResult, WorkerRecord } from '../types.js';
import { readTokenFile } from './auth.js';
import type { WorkerSummary } from './views.js';
import type { PlanPreviewResponse } from './plan-request.js';
import type { ManifestsMeta } from '../reconcile/intake.js';
import type { BudgetView } from '../proxmox/node-budget.js';

export const DEFAULT_CONTROLLER_URL = 'http://127.0.0.1:8080';
/** Where `workerctl run` writes a generated token when given no --api-token-file. */
export const DEFAULT_TOKEN_FILE = '.workerctl/api-token';

/** The API answered with an error. */
export class ControllerApiError extends WorkerctlError {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly param?: string,
  ) {
    super(message);
  }
}

export interface ClientOptions {
  controller?: string;
  apiTokenFile?: string;
  /** Per request; session start and test may take minutes. Default 15 min. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface SessionGrantView {
  session: SessionRecord & { state: string };
  worker: string;
  address?: string;
  node?: string;
  vmid?: number;
  fallback: boolean;
}

export interface StartSessionBody {
  host: string;
  tasks?: number;
  kind?: SessionKind;
  /** Duration string like 15m, or seconds. */
  lease?: string | number;
  wait?: string | number;
}

/** Resolves the controller URL, validating it. */
export function controllerUrl(opts: ClientOptions): string {
  const env = opts.env ?? process.env;
  const raw = opts.controller ?? env.WORKERCTL_CONTROLLER ?? DEFAULT_CONTROLLER_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--controller: '${raw}' is not a URL (e.g. ${DEFAULT_CONTROLLER_URL})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--controller: '${raw}' must be an http or https URL`);
  }
  return url.origin + url.pathname.replace(/\/+$/, '');
}

/** The bearer token, or undefined (read-only calls need none). */
export async function resolveToken(opts: ClientOptions): Promise<string | undefined> {
  const env = opts.env ?? process.env;
  if (opts.apiTokenFile) return readTokenFile(opts.apiTokenFile);
  if (env.WORKERCTL_API_TOKEN) return env.WORKERCTL_API_TOKEN.trim();
  const credential = credentialFile(CREDENTIAL.apiToken, env);
  if (credential) return readTokenFile(credential);
  if (existsSync(DEFAULT_TOKEN_FILE)) return readTokenFile(DEFAULT_TOKEN_FILE);
  return undefined;
}

export class ControllerClient {
  readonly url: string;
  readonly #opts: ClientOptions;
  #token?: Promise<string | undefined>;

  constructor(opts: ClientOptions = {}) {
    this.#opts = opts;
    this.url = controllerUrl(opts);
  }

  /** True when the user named the controller (flag or environment) rather than relying on the default. */
  get explicit(): boolean {
    return Boolean(this.#opts.controller ?? (this.#opts.env ?? process.env).WORKERCTL_CONTROLLER);
  }

  async #request<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (method !== 'GET') {
      this.#token ??= resolveToken(this.#opts);
      const token = await this.#token;
      if (token) headers.authorization = `Bearer ${token}`;
    }
    try {
      const res = await got(this.url + path, {
        method,
        headers,
        ...(body !== undefined ? { json: body } : {}),
        timeout: { request: this.#opts.timeoutMs ?? 15 * 60_000 },
        retry: { limit: 0 },
        responseType: 'json',
        ...(signal ? { signal } : {}),
      });
      return res.body as T;
    } catch (err) {
      if (err instanceof HTTPError) {
        const b = err.response.body as
          { error?: { code?: string; message?: string; param?: string } } | undefined;
        const msg =
          b?.error?.message ?? `${err.response.statusCode} ${err.response.statusMessage ?? ''}`.trim();
        throw new ControllerApiError(
          msg,
          err.response.statusCode,
          b?.error?.code ?? 'error',
          b?.error?.param,
        );
      }
      if (
        err instanceof RequestError &&
        ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EHOSTUNREACH'].includes(err.code)
      ) {
        throw new ControllerUnavailableError(
          `no controller is running at ${this.url} (${err.code}); start one with \`workerctl run\`, or point --controller / WORKERCTL_CONTROLLER at it`,
        );
      }
      if (err instanceof RequestError) {
        throw new ControllerUnavailableError(
          `the controller at ${this.url} did not answer: ${err.code ?? err.message}`,
        );
      }
      throw err;
    }
  }

  health(): Promise<{ status: string }> {
    return this.#request('GET', '/healthz');
  }

  async workers(): Promise<WorkerSummary[]> {
    return (await this.#request<{ workers: WorkerSummary[] }>('GET', '/v1/workers')).workers;
  }

  /** The controller's state beside the workers: readiness and the Proxmox API budget in use. */
  status(): Promise<{ ready: boolean; proxmox: { budget: BudgetView | null } }> {
    return this.#request('GET', '/v1/status');
  }

  /** Whole worker records (what `workerctl status` shows). */
  async records(): Promise<WorkerRecord[]> {
    return (await this.recordsWithManifests()).workers;
  }

  /** Whole worker records, and the manifests' revision the controller last took in. */
  recordsWithManifests(): Promise<{ workers: WorkerRecord[]; manifests?: ManifestsMeta | null }> {
    return this.#request('GET', '/v1/workers?full=1');
  }

  /** Plans posted manifests against the controller (POST /v1/plan, read-only there). */
  plan(body: unknown, signal?: AbortSignal): Promise<PlanPreviewResponse> {
    return this.#request('POST', '/v1/plan', body, signal);
  }

  worker(name: string): Promise<WorkerSummary & Record<string, unknown>> {
    return this.#request('GET', `/v1/workers/${encodeURIComponent(name)}`);
  }

  async test(name: string): Promise<TestResult> {
    return (
      await this.#request<{ result: TestResult }>('POST', `/v1/workers/${encodeURIComponent(name)}/test`, {})
    ).result;
  }

  startSession(body: StartSessionBody): Promise<SessionGrantView> {
    return this.#request('POST', '/v1/sessions', body);
  }

  async sessions(): Promise<(SessionRecord & { state: string })[]> {
    return (await this.#request<{ sessions: (SessionRecord & { state: string })[] }>('GET', '/v1/sessions'))
      .sessions;
  }

  session(id: string): Promise<SessionRecord & { state: string }> {
    return this.#request('GET', `/v1/sessions/${encodeURIComponent(id)}`);
  }

  endSession(id: string, reason?: string): Promise<{ ended: string }> {
    const q = reason ? `?reason=${encodeURIComponent(reason)}` : '';
    return this.#request('DELETE', `/v1/sessions/${encodeURIComponent(id)}${q}`);
  }

  renewSession(id: string, lease?: string | number): Promise<SessionRecord & { state: string }> {
    return this.#request(
      'POST',
      `/v1/sessions/${encodeURIComponent(id)}/renew`,
      lease !== undefined ? { lease } : {},
    );
  }
}
