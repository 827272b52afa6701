/**
 * The routes of the HTTP API (see server.ts for the table in words): each reads its parameters
 * (request.ts), calls the lifecycle or the store, and answers JSON; /v1/events streams server-sent
 * events.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LifecycleEvent } from '../lifecycle/events.js';
import type { SessionManager, SessionRequest } from '../lifecycle/sessions.js';
import { redact } from '../redact.js';
import { HttpError, toHttpError } from './http-errors.js';
import { durationParam, intParam, parseTarget, readJson, send, stringParam } from './request.js';
import type { ApiServices } from './server.js';
import { sessionView, workerDetail, workerSummary } from './views.js';
import { planRoute } from './plan-route.js';

export type Handler = (req: IncomingMessage, res: ServerResponse, params: string[]) => Promise<void>;

export interface Route {
  method: string;
  pattern: RegExp;
  /** Label for metrics. */
  name: string;
  handler: Handler;
}

/** The route table over the services; open event streams are kept in `sseClients` (closed on stop). */
export function apiRoutes(services: ApiServices, sseClients: Set<ServerResponse>): Route[] {
  const { store, metrics, events } = services;
  const needSessions = (): SessionManager => {
    if (!services.sessions)
      throw new HttpError(503, 'unavailable', 'sessions are not available in this controller');
    return services.sessions;
  };

  return [
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
      pattern: /^\/v1\/status$/,
      name: '/v1/status',
      handler: async (_q, res) =>
        send(res, 200, { ready: services.isReady(), proxmox: { budget: services.budget?.() ?? null } }),
    },
    {
      method: 'GET',
      pattern: /^\/v1\/workers$/,
      name: '/v1/workers',
      handler: async (req, res) => {
        const full = parseTarget(req.url).query.get('full');
        const sorted = store.listWorkers().sort((a, b) => a.name.localeCompare(b.name));
        // ?full=1: whole records (status CLI); secrets masked all the same.
        send(res, 200, {
          workers: full === '1' || full === 'true' ? sorted.map((r) => redact(r)) : sorted.map(workerSummary),
          manifests: store.getMeta('manifests') ?? null,
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
    planRoute(services),
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
        const reason = parseTarget(req.url).query.get('reason') ?? 'ended by request';
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
}
