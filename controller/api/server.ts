/**
 * The HTTP API of `workerctl run`, on node:http, bound to loopback by default.
 *
 *   GET  /healthz                    the process answers
 *   GET  /readyz                     200 after the first full observation of the cluster, else 503
 *   GET  /metrics                    Prometheus text
 *   GET  /v1/status                  readiness and the per-node Proxmox API budget with its use
 *   GET  /v1/workers[/NAME]          workers and their status (?full=1: whole records)
 *   POST /v1/workers/NAME/test       test a worker (waits for the result)
 *   POST /v1/plan                    plan posted manifests against this controller (read-only)
 *   POST /v1/sessions                start a session (waits until the worker is Working)
 *   GET  /v1/sessions[/ID]           open sessions
 *   DELETE /v1/sessions/ID           end a session
 *   POST /v1/sessions/ID/renew       extend its lease
 *   GET  /v1/events                  server-sent events of status changes
 *   GET  /v1/plan, /v1/manifests     what is still to do; the manifests' health (fleet-routes.ts)
 *   GET  /, /ui/FILE                 the fleet page (page.ts)
 *
 * Every request that changes something (POST, DELETE) needs `Authorization: Bearer <token>`.
 * Errors are JSON: {"error": {"code", "message", "param"?}}.
 */
import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../clock.js';
import { ConfigError } from '../errors.js';
import type { EventBus } from '../lifecycle/events.js';
import type { SessionGrant, SessionManager, SessionRequest } from '../lifecycle/sessions.js';
import type { Logger } from '../log.js';
import type { ManifestHealthView } from '../loop/manifest-health.js';
import type { Plan } from '../reconcile/contracts.js';
import type { Store } from '../store/store.js';
import type { TestResult } from '../types.js';
import type { PlanPreviewRequest, PlanPreviewResponse } from './plan-request.js';
import { bearerToken, tokensEqual } from './auth.js';
import { fleetRoutes } from './fleet-routes.js';
import { HttpError, toHttpError } from './http-errors.js';
import type { ControllerMetrics } from './metrics.js';
import { pageRoutes } from './page.js';
import { decodeSegment, parseTarget, send } from './request.js';
import { apiRoutes } from './routes.js';
import type { BudgetView } from '../proxmox/node-budget.js';

export const DEFAULT_LISTEN = '127.0.0.1:8080';

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
  /** Plans posted manifests, changing nothing (POST /v1/plan); without it the route answers 503. */
  previewPlan?: (request: PlanPreviewRequest) => Promise<PlanPreviewResponse>;
  /** The bearer token; without one, requests that change something are refused. */
  token?: string;
  /** Interval of SSE keep-alive comments (default 15 s). */
  sseKeepAliveMs?: number;
  /** The fleet's plan from the last observation (GET /v1/plan; without it, 503). */
  plan?: () => Plan;
  /** The manifests' health (GET /v1/manifests; without it, 503). */
  manifests?: () => ManifestHealthView;
  /** The per-node Proxmox API budget and its use (GET /v1/status). */
  budget?: () => BudgetView;
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

/** True for an address only this machine can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127(\.\d{1,3}){3}$/.test(h);
}

export interface ListenOptions {
  /**
   * Listen on an address other machines can reach although the API speaks plain HTTP (its reads
   * need no token, and the token of its writes crosses the network in clear): only behind a
   * TLS-terminating proxy or on a network you trust. Without it such an address is refused.
   */
  allowInsecure?: boolean;
}

/** Starts the API server; resolves once it listens. */
export async function startApiServer(
  services: ApiServices,
  listen = DEFAULT_LISTEN,
  listenOptions: ListenOptions = {},
): Promise<ApiServer> {
  const { metrics, logger } = services;
  const target = parseListen(listen);
  if (!isLoopbackHost(target.host)) {
    if (!listenOptions.allowInsecure) {
      throw new ConfigError(
        `--listen ${listen}: refusing a non-loopback address: the API has no TLS, its reads need no token and ` +
          'the bearer token of its writes would cross the network in clear. Put a TLS-terminating proxy on this ' +
          'host in front of a loopback --listen, or pass --allow-insecure-listen to accept that risk',
      );
    }
    logger.warn(
      'api listens on a non-loopback address without TLS: reads need no token, the write token travels in clear',
      {
        listen,
      },
    );
  }
  const sseClients = new Set<ServerResponse>();

  const routes = [...apiRoutes(services, sseClients), ...fleetRoutes(services), ...pageRoutes()];

  const server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    let label = 'unknown';
    res.setHeader('x-content-type-options', 'nosniff');
    res.on('finish', () => metrics.httpRequests.inc({ method, route: label, code: String(res.statusCode) }));
    void (async () => {
      // Everything read from the request happens inside the try: a malformed one is a 400, never a crash.
      let path = '';
      try {
        path = parseTarget(req.url).path;
        const matching = routes.filter((r) => r.pattern.test(path));
        const route = matching.find((r) => r.method === method || (method === 'HEAD' && r.method === 'GET'));
        label = route?.name ?? (matching[0]?.name || 'unknown');
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
        const names = route.name.match(/:\w+/g) ?? [];
        const params = (route.pattern.exec(path) ?? [])
          .slice(1)
          .map((p, i) => decodeSegment(p, names[i]?.slice(1) ?? 'path'));
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

  const { host, port } = target;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new ConfigError(`--listen ${listen}: unable to listen: ${err.code ?? err.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${shown}:${addr.port}`;
  logger.info('api listening', {
    url,
    page: `${url}/`,
    auth: services.token ? 'bearer token' : 'read-only (no token)',
  });

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
