/**
 * The /api2/json request pipeline in pve-http-server's order (PVE/APIServer/AnyEvent.pm): process_header
 * (transfer encoding), authenticate_and_handle_request (pve-manager PVE/HTTPServer.pm auth_handler: every
 * path but a few login calls needs credentials, so an unknown path without them is a 401), the body checks
 * (content on PUT/POST only, 512 KiB, form or JSON), handle_api2_request/extract_params (query overrides
 * body), rest_handler (find_handler: 501 when unknown; a parameter repeating the path differently is a
 * parameter error; proxyto: the node must resolve), then the handler: `protected` calls run in the node's
 * pvedaemon pool, where RESTHandler verifies the parameters. Every call lands in the call log.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, DropConnection, paramError } from './http/api-error.js';
import { checkBody, checkTransferEncoding, parseBody, parseForm, readBody } from './http/body.js';
import { sendData, sendError } from './http/respond.js';
import type { ApiRequest, Router } from './http/router.js';
import { sleep } from './latency.js';
import { isProtected, methodSchema } from './schema/pve-schema.js';
import { verifyParams } from './schema/validate.js';
import type { Simulator } from './simulator.js';
import { buildRoutes } from './handlers/routes.js';

/** pve-manager PVE/HTTPServer.pm auth_handler: the calls allowed without credentials. */
const NO_AUTH = new Set([
  'GET /access/domains',
  'GET /access/ticket',
  'POST /access/ticket',
  'POST /access/vncticket',
  'POST /access/openid/login',
  'POST /access/openid/auth-url',
]);

const SECRET_PARAMS = new Set(['password', 'cipassword', 'otp', 'tfa-challenge']);

function redactParams(params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) out[k] = SECRET_PARAMS.has(k) ? '<redacted>' : v;
  return out;
}

/** Handles /api2/json requests for one simulator. */
export class ApiServer {
  private readonly router: Router<Simulator> = buildRoutes();
  /** Requests being answered, per node in the path ('' for cluster-wide ones). */
  private readonly inFlight = new Map<string, number>();
  constructor(private readonly sim: Simulator) {}

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const started = performance.now();
    const method = (req.method ?? 'GET').toUpperCase();
    let path = url.pathname.slice('/api2/json'.length) || '/';
    try {
      path = decodeURIComponent(path);
    } catch {
      /* keep raw */
    }
    if (path.length > 1) path = path.replace(/\/+$/, '');
    let endpoint = `${method} ${path}`;
    let params: Record<string, unknown> = {};
    let violations: Record<string, string> | undefined;
    let user: string | undefined;
    // The node by the raw path, before routing: a request that fails routing still reached it.
    const node = /^\/nodes\/([^/]+)/.exec(path)?.[1];
    const key = node ?? '';
    const inFlight = (this.inFlight.get(key) ?? 0) + 1;
    this.inFlight.set(key, inFlight);
    let finished = false;
    const finish = (status: number, error?: string): void => {
      if (!finished) this.inFlight.set(key, this.inFlight.get(key)! - 1);
      finished = true;
      const end = performance.now();
      this.sim.record({
        startMs: performance.timeOrigin + started,
        endMs: performance.timeOrigin + end,
        ...(node !== undefined ? { node } : {}),
        inFlight,
        method,
        path,
        endpoint,
        params: redactParams(params),
        status,
        error,
        durationMs: Math.round((end - started) * 1000) / 1000,
        schemaViolations: violations,
        user,
      });
    };
    try {
      checkTransferEncoding(req);
      const read = await readBody(req);
      const caller = NO_AUTH.has(`${method} ${path}`)
        ? undefined
        : this.sim.auth.authenticate(req.headers, method);
      user = caller?.user;
      checkBody(method, req.headers['content-type'], read);
      const bodyParams =
        method === 'POST' || method === 'PUT' ? parseBody(req.headers['content-type'], read.body) : {};
      params = { ...bodyParams, ...parseForm(url.search.slice(1)) };
      delete params._dc;
      const match = this.router.match(method, path);
      if (!match || 'methodMissing' in match)
        throw new ApiError(501, `Method '${method} ${path}' not implemented`);
      const { route, pathParams } = match;
      endpoint = `${method} ${route.template}`;
      for (const [k, v] of Object.entries(pathParams)) {
        if (params[k] !== undefined && String(params[k]) !== v)
          throw paramError({ [k]: 'duplicate parameter (already defined in URI) with conflicting values!' });
        params[k] = v;
      }
      if (pathParams.node !== undefined) this.sim.world.assertNode(pathParams.node);
      // verified here so that the call log keeps every violation; refused below, in the handler's turn
      const verified = verifyParams(methodSchema(method, route.template), params);
      if (Object.keys(verified.errors).length > 0) violations = verified.errors;
      const vmid = pathParams.vmid !== undefined ? Number(pathParams.vmid) : undefined;
      const fault = this.sim.faults.take(['error', 'status596', 'drop'], { method, path, vmid });
      if (fault?.kind === 'drop') throw new DropConnection();
      if (fault?.kind === 'status596') throw new ApiError(596, fault.message ?? 'Connection timed out');
      if (fault?.kind === 'error')
        throw new ApiError(fault.status ?? 500, fault.message ?? 'simulated failure');
      const run = async (): Promise<unknown> => {
        if (violations) throw new ApiError(400, 'Parameter verification failed.', { errors: violations });
        if (method === 'GET') await this.readLatency(route.template);
        const apiReq: ApiRequest = { method, path, params: verified.params, caller };
        return route.handler(this.sim, apiReq);
      };
      const data = isProtected(method, route.template)
        ? await this.sim.daemon(pathParams.node ?? this.sim.localNode).run(run)
        : await run();
      sendData(req, res, data);
      finish(200);
    } catch (err) {
      if (err instanceof DropConnection) {
        finish(0, err.message);
        req.socket.destroy();
        return;
      }
      const e =
        err instanceof ApiError ? err : new ApiError(500, err instanceof Error ? err.message : String(err));
      if (!(err instanceof ApiError)) this.sim.log.debug('handler error', { endpoint, err: e.message });
      finish(e.status, e.message);
      if (e.status === 401 && e.delayed) {
        await sleep(this.sim.authFailureDelayMs);
        sendError(req, res, 401, e.message, { empty: !e.message.startsWith('authentication failure') });
        return;
      }
      if (e.status >= 595) return sendError(req, res, e.status, e.message, { empty: true });
      sendError(req, res, e.status, e.message, { errors: e.errors, plain: e.plain });
    }
  }

  private async readLatency(template: string): Promise<void> {
    const lat = this.sim.latency;
    const simMs =
      template === '/cluster/resources'
        ? lat.draw('resourcesBase') + lat.profile.resourcesPerGuest * this.sim.world.vms.size
        : lat.draw('smallGet');
    await sleep(lat.toReal(simMs));
  }
}
