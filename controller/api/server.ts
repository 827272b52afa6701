/**
 * The HTTP API of `workerctl run`, on node:http, bound to loopback by default.
 *
 *   GET  /healthz                    the process answers
 *   GET  /readyz                     200 after the first full observation of the cluster, else 503
 *   GET  /metrics                    Prometheus text
 *   GET  /v1/workers[/NAME]          workers and their status (?full=1: whole records)
 *   POST /v1/workers/NAME/test       test a worker (waits for the result)
 *   POST /v1/sessions                start a session (waits until the worker is Working)
 *   GET  /v1/sessions[/ID]           open sessions
 *   DELETE /v1/sessions/ID           end a session
 *   POST /v1/sessions/ID/renew       extend its lease
 *   GET  /v1/events                  server-sent events of status changes
 *
 * Every request that changes something (POST, DELETE) needs `Authorization: Bearer <token>`.
 * Errors are JSON: {"error": {"code", "message", "param"?}}.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../clock.js';
import { ConfigError } from '../errors.js';
import type { EventBus, LifecycleEvent } from '../lifecycle/events.js';
import type { SessionGrant, SessionManager, SessionRequest } from '../lifecycle/sessions.js';
import type { Logger } from '../log.js';
import { parseDuration } from '../duration.js';
import { redact } from '../redact.js';
import type { Store } from '../store/store.js';
import type { TestResult } from '../types.js';
import { bearerToken, tokensEqual } from './auth.js';
import { HttpError, toHttpError } from './http-errors.js';
import type { ControllerMetrics } from './metrics.js';
import { sessionView, workerDetail, workerSummary } from './views.js';

export const DEFAULT_LISTEN = '127.0.0.1:8080';
const MAX_BODY = 64 * 1024;

export interface ApiServices {
  store: Store;
  events: EventBus;
  metrics: ControllerMetrics;
  logger: Logger;
  clock: Clock;
  /** Ready after the first full observation of the cluster. */
  isReady: () => boolean;
  /** Session handling; without it the session routes answer 503. */
  sessions?: SessionManager;
  /** Starts a session (default: sessions.start); lets the owner abort starts on shutdown. */
  startSession?: (req: SessionRequest) => Promise<SessionGrant>;
  /** Runs a worker test; without it the test route answers 503. */
  test?: (name: string) => Promise<TestResult>;
  /** The bearer token; without one, requests that change something are refused. */
  token?: string;
  /** Interval of SSE keep-alive comments (default 15 s). */
  sseKeepAliveMs?: number;
}

export interface ApiServer {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Parses --listen: host:port, [v6]:port or :port (loopback). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(listen.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new ConfigError(`--listen: '${listen}' is not HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)`);
  }
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

type Handler = (req: IncomingMessage, res: ServerResponse, params: string[]) => Promise<void>;

interface Route {
  method: string;
  pattern: RegExp;
  /** Label for metrics. */
  name: string;
  handler: Handler;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'body_too_large', `request body over ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, 'invalid_json', `request body is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new HttpError(400, 'invalid_json', 'request body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

/** A duration parameter: a number of seconds or a string like 15m. */
function durationParam(body: Record<string, unknown>, name: string): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.round(v * 1000);
  if (typeof v === 'string') {
    try {
      return parseDuration(v, name);
    } catch (err) {
      throw new HttpError(400, 'invalid_parameter', (err as Error).message, name);
    }
  }
  throw new HttpError(400, 'invalid_parameter', `${name} must be seconds or a duration like 15m`, name);
}

function stringParam(body: Record<string, unknown>, name: string, required = false): string | undefined {
  const v = body[name];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v === '')
    throw new HttpError(400, 'invalid_parameter', `${name} must be a non-empty string`, name);
  return v;
}

function intParam(body: Record<string, unknown>, name: string): number | undefined {
  const v = body[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw new HttpError(400, 'invalid_parameter', `${name} must be an integer`, name);
  return v;
}

/** Starts the API server; resolves once it listens. */
export async function startApiServer(services: ApiServices, listen = DEFAULT_LISTEN): Promise<ApiServer> {
  const { store, metrics, logger, events } = services;
  const sseClients = new Set<ServerResponse>();

  const needSessions = (): SessionManager => {
    if (!services.sessions)
      throw new HttpError(503, 'unavailable', 'sessions are not available in this controller');
    return services.sessions;
  };

  const routes: Route[] = [
    {
      method: 'GET',
      pattern: /^\/healthz$/,
      name: '/healthz',
      handler: async (_q, res) => send(res, 200, { status: 'ok' }),
    },
    {
      method: 'GET',
      pattern: /^\/readyz$/,
      name: '/readyz',
      handler: async (_q, res) =>
        services.isReady()
          ? send(res, 200, { ready: true })
          : send(res, 503, {
              ready: false,
              error: { code: 'not_ready', message: 'waiting for the first full observation of the cluster' },
            }),
    },
    {
      method: 'GET',
      pattern: /^\/metrics$/,
      name: '/metrics',
      handler: async (_q, res) => {
        const text = await metrics.text();
        res.writeHead(200, { 'content-type': metrics.contentType });
        res.end(text);
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/workers$/,
      name: '/v1/workers',
      handler: async (req, res) => {
        const full = new URL(req.url ?? '/', 'http://x').searchParams.get('full');
        const sorted = store.listWorkers().sort((a, b) => a.name.localeCompare(b.name));
        // ?full=1: whole records (status CLI); secrets masked all the same.
        send(res, 200, {
          workers: full === '1' || full === 'true' ? sorted.map((r) => redact(r)) : sorted.map(workerSummary),
        });
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/workers\/([^/]+)$/,
      name: '/v1/workers/:name',
      handler: async (_q, res, [name]) => {
        const rec = store.getWorker(name!);
        if (!rec) throw new HttpError(404, 'worker_not_found', `unknown worker ${name}`, 'name');
        send(res, 200, workerDetail(rec));
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/workers\/([^/]+)\/test$/,
      name: '/v1/workers/:name/test',
      handler: async (_q, res, [name]) => {
        if (!services.test)
          throw new HttpError(503, 'unavailable', 'tests are not available in this controller');
        if (!store.getWorker(name!))
          throw new HttpError(404, 'worker_not_found', `unknown worker ${name}`, 'name');
        const result = await services.test(name!);
        metrics.tests.inc({ result: result.ok ? 'passed' : 'failed' });
        send(res, 200, { worker: name, result });
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/sessions$/,
      name: '/v1/sessions',
      handler: async (_q, res) => send(res, 200, { sessions: needSessions().list().map(sessionView) }),
    },
    {
      method: 'POST',
      pattern: /^\/v1\/sessions$/,
      name: '/v1/sessions',
      handler: async (req, res) => {
        const sessions = needSessions();
        const body = await readJson(req);
        const kind = stringParam(body, 'kind');
        if (kind !== undefined && kind !== 'backup' && kind !== 'restore') {
          throw new HttpError(400, 'invalid_parameter', 'kind must be backup or restore', 'kind');
        }
        const request: SessionRequest = {
          host: stringParam(body, 'host', true)!,
          tasks: intParam(body, 'tasks'),
          kind,
          leaseMs: durationParam(body, 'lease'),
          waitMs: durationParam(body, 'wait'),
        };
        const t0 = services.clock.now();
        try {
          const grant = await (services.startSession ?? ((r: SessionRequest) => sessions.start(r)))(request);
          metrics.sessionStarts.inc({ result: 'ok' });
          metrics.sessionStartDuration.observe((services.clock.now() - t0) / 1000);
          send(
            res,
            201,
            {
              session: sessionView(grant.session),
              worker: grant.worker,
              address: grant.address,
              node: grant.node,
              vmid: grant.vmid,
              fallback: grant.fallback,
            },
            { location: `/v1/sessions/${grant.session.id}` },
          );
        } catch (err) {
          metrics.sessionStarts.inc({ result: toHttpError(err).status === 503 ? 'no_worker' : 'error' });
          throw err;
        }
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/sessions\/([^/]+)$/,
      name: '/v1/sessions/:id',
      handler: async (_q, res, [id]) => send(res, 200, sessionView(needSessions().get(id!))),
    },
    {
      method: 'DELETE',
      pattern: /^\/v1\/sessions\/([^/]+)$/,
      name: '/v1/sessions/:id',
      handler: async (req, res, [id]) => {
        const reason = new URL(req.url ?? '/', 'http://x').searchParams.get('reason') ?? 'ended by request';
        await needSessions().end(id!, reason.slice(0, 200));
        send(res, 200, { ended: id, reason });
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/sessions\/([^/]+)\/renew$/,
      name: '/v1/sessions/:id/renew',
      handler: async (req, res, [id]) => {
        const body = await readJson(req);
        send(res, 200, sessionView(await needSessions().renew(id!, durationParam(body, 'lease'))));
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/events$/,
      name: '/v1/events',
      handler: async (req, res) => {
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          connection: 'keep-alive',
        });
        res.write('retry: 2000\n\n');
        let seq = 0;
        const unsubscribe = events.subscribe((e: LifecycleEvent) => {
          res.write(`id: ${++seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
        });
        const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), services.sseKeepAliveMs ?? 15_000);
        keepAlive.unref();
        sseClients.add(res);
        await new Promise<void>((resolve) => {
          const done = () => {
            clearInterval(keepAlive);
            unsubscribe();
            sseClients.delete(res);
            resolve();
          };
          req.on('close', done);
          res.on('close', done);
        });
      },
    },
  ];

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const method = req.method ?? 'GET';
    const matching = routes.filter((r) => r.pattern.test(path));
    const route = matching.find((r) => r.method === method || (method === 'HEAD' && r.method === 'GET'));
    const label = route?.name ?? (matching[0]?.name || 'unknown');
    res.on('finish', () => metrics.httpRequests.inc({ method, route: label, code: String(res.statusCode) }));
    void (async () => {
      try {
        if (!route) {
          if (matching.length) {
            const allow = [...new Set(matching.map((r) => r.method))].join(', ');
            throw new HttpError(
              405,
              'method_not_allowed',
              `${method} is not allowed on ${path} (allowed: ${allow})`,
              undefined,
              {
                allow,
              },
            );
          }
          throw new HttpError(404, 'not_found', `no such endpoint: ${method} ${path}`);
        }
        if (method !== 'GET' && method !== 'HEAD') {
          if (!services.token) {
            throw new HttpError(
              403,
              'no_token_configured',
              'this controller has no API token: start it with --api-token-file to allow changes',
            );
          }
          const given = bearerToken(req.headers.authorization);
          if (!given || !tokensEqual(given, services.token)) {
            throw new HttpError(
              401,
              'unauthorized',
              given
                ? 'the API token does not match'
                : 'this request changes something: send the API token in an Authorization header (bearer scheme)',
              undefined,
              { 'www-authenticate': 'Bearer realm="workerctl"' },
            );
          }
        }
        const params = (route.pattern.exec(path) ?? []).slice(1).map((p) => decodeURIComponent(p));
        await route.handler(req, res, params);
      } catch (err) {
        const e = toHttpError(err);
        if (e.status >= 500 && e.status !== 503) logger.info('api request failed', { method, path, err });
        if (!res.headersSent) send(res, e.status, e.body, e.headers);
        else res.end();
      }
    })();
  });
  server.keepAliveTimeout = 5_000;

  const { host, port } = parseListen(listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new ConfigError(`--listen ${listen}: unable to listen: ${err.code ?? err.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${shown}:${addr.port}`;
  logger.info('api listening', { url, auth: services.token ? 'bearer token' : 'read-only (no token)' });

  return {
    url,
    server,
    close: async () => {
      for (const res of sseClients) res.end();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
