/** Helpers for simulator tests: a started simulator and a tiny fetch-based PVE caller. */
import type { RunningSimulator, SimulatorOptions } from '../../controller/simulator/index.js';
import { startSimulator } from '../../controller/simulator/index.js';

/** One API answer. */
export interface Answer {
  status: number;
  reason: string;
  headers: Headers;
  body: string;
  json: { data?: unknown; message?: string; errors?: Record<string, string>; total?: number } & Record<
    string,
    unknown
  >;
}

/** Calls the simulator over real HTTP with token auth; `form` is sent form-encoded. */
export async function call(
  s: RunningSimulator,
  method: string,
  path: string,
  opts: {
    form?: Record<string, string | string[]> | URLSearchParams;
    json?: unknown;
    headers?: Record<string, string>;
    auth?: false;
  } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.auth !== false && !headers.Authorization && !headers.Cookie)
    headers.Authorization = `PVEAPIToken=${s.token}`;
  let body: string | undefined;
  if (opts.form) {
    const p = opts.form instanceof URLSearchParams ? opts.form : new URLSearchParams();
    if (!(opts.form instanceof URLSearchParams))
      for (const [k, v] of Object.entries(opts.form))
        for (const x of Array.isArray(v) ? v : [v]) p.append(k, x);
    body = p.toString();
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
  } else if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(`${s.url}/api2/json${path}`, { method, headers, body });
  const text = await res.text();
  let json: Answer['json'] = {};
  try {
    json = JSON.parse(text) as Answer['json'];
  } catch {
    /* plain or empty body */
  }
  return { status: res.status, reason: res.statusText, headers: res.headers, body: text, json };
}

/**
 * Polls a task until it stops; returns its final status. A 596 (no pvedaemon worker within the proxy
 * timeout, which at a high time scale is a few real milliseconds) is polled again, as a client must.
 */
export async function waitTask(
  s: RunningSimulator,
  upid: string,
  timeoutMs = 5000,
): Promise<Record<string, unknown>> {
  const node = upid.split(':')[1];
  const until = Date.now() + timeoutMs;
  for (;;) {
    const a = await call(s, 'GET', `/nodes/${node}/tasks/${encodeURIComponent(upid)}/status`);
    const d = a.status === 596 ? undefined : (a.json.data as Record<string, unknown>);
    if (a.status !== 596 && !d) throw new Error(`task status ${upid}: ${a.status} ${a.body}`);
    if (d?.status === 'stopped') return d;
    if (Date.now() > until) throw new Error(`task ${upid} still running`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Starts a fast simulator (tests). */
export function fastSimulator(opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  return startSimulator({ authFailureDelayMs: 20, ...opts });
}

/** Control API call. */
export async function control(
  s: RunningSimulator,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${s.url}/_sim${path}`, {
    method,
    headers: body !== undefined ? { 'Content-Type': 'application/json' } : {},
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: (await res.json()) as unknown };
}

export const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Headers of a root@pam ticket login (cookie and CSRF token): the only caller PVE lets use skiplock. */
export async function rootTicket(s: RunningSimulator): Promise<Record<string, string>> {
  const login = await call(s, 'POST', '/access/ticket', {
    form: { username: 'root@pam', password: s.password },
  });
  const d = login.json.data as { ticket: string; CSRFPreventionToken: string };
  return {
    Cookie: `PVEAuthCookie=${encodeURIComponent(d.ticket)}`,
    CSRFPreventionToken: d.CSRFPreventionToken,
  };
}

/** Resolves when `check` holds, polling every 2 ms for at most `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleepMs(2);
  }
}
