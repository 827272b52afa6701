/**
 * The /_sim/ control API (loopback only, no PVE auth): the in-process Simulator API over HTTP.
 *
 *   GET    /_sim/state                    whole state (nodes, storages, vms, tasks, faults, stats)
 *   GET    /_sim/vms, /_sim/vms/{vmid}    VM views
 *   POST   /_sim/vms                      create a foreign VM {vmid, node, name?, tags?, running?, config?}
 *   DELETE /_sim/vms/{vmid}               delete a VM behind the API's back
 *   POST   /_sim/vms/{vmid}/config        edit config as the UI would {key: value|null}
 *   POST   /_sim/vms/{vmid}/power         {status: running|stopped} out of band
 *   GET    /_sim/calls[?since=N]          call log;  DELETE /_sim/calls clears it
 *   GET    /_sim/violations               requests refused by the PVE schema check
 *   GET    /_sim/stats                    request counts per endpoint
 *   GET    /_sim/faults                   active faults;  POST /_sim/faults {FaultSpec | FaultSpec[]}
 *   DELETE /_sim/faults[/{id}]            clear all faults or one
 *   POST   /_sim/guest-commands           {pattern, exitCode, stdout?, stderr?, durationMs?}
 *   POST   /_sim/tasks/{upid}/crash       crash a running task
 *   GET    /_sim/tasks/{upid}             task status, log and end time (endedAt, epoch ms)
 *   POST   /_sim/settings                 {resourcesLag?, authFailureDelayMs?}
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Ajv } from 'ajv';
import { readBody } from './http/body.js';
import { sendJson } from './http/respond.js';
import type { Simulator } from './simulator.js';
import { faultSchema } from './world/load.js';
import type { FaultSpec, GuestCommandSpec } from './world/types.js';

const ajv = new Ajv({ strict: false });
const checkFault = ajv.compile(faultSchema);

function isLoopback(addr: string | undefined): boolean {
  return !!addr && (addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.'));
}

class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function jsonBody(req: IncomingMessage): Promise<unknown> {
  const { body: buf } = await readBody(req);
  if (buf.length === 0) return {};
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new ControlError(400, `invalid JSON body: ${(err as Error).message}`);
  }
}

function vmidOf(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n)) throw new ControlError(400, `invalid vmid '${s}'`);
  return n;
}

/** Serves /_sim/... */
export async function handleControl(
  sim: Simulator,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  if (!isLoopback(req.socket.remoteAddress))
    return sendJson(res, 403, { error: 'control API is loopback only' });
  const method = (req.method ?? 'GET').toUpperCase();
  const segs = url.pathname.split('/').slice(2).map(decodeURIComponent);
  const route = `${method} /${segs.map((s, i) => (i === 1 && segs[0] !== 'faults' ? ':x' : s)).join('/')}`;
  try {
    const out = await dispatch(sim, method, segs, route, req, url);
    sendJson(res, 200, out ?? { ok: true });
  } catch (err) {
    const status = err instanceof ControlError ? err.status : 400;
    sendJson(res, status, { error: (err as Error).message });
  }
}

async function dispatch(
  sim: Simulator,
  method: string,
  segs: string[],
  route: string,
  req: IncomingMessage,
  url: URL,
): Promise<unknown> {
  const [area, id, sub] = segs;
  switch (`${method} ${area}${id !== undefined ? '/:id' : ''}${sub !== undefined ? '/' + sub : ''}`) {
    case 'GET state':
      return sim.state();
    case 'GET vms':
      return sim.listVms();
    case 'GET vms/:id': {
      const vm = sim.getVm(vmidOf(id));
      if (!vm) throw new ControlError(404, `vm ${id} does not exist`);
      return vm;
    }
    case 'POST vms': {
      const body = (await jsonBody(req)) as Parameters<Simulator['createForeignVm']>[0];
      return sim.createForeignVm(body);
    }
    case 'DELETE vms/:id':
      return { removed: sim.removeVm(vmidOf(id)) };
    case 'POST vms/:id/config':
      return sim.editVmConfig(vmidOf(id), (await jsonBody(req)) as Record<string, string | number | null>);
    case 'POST vms/:id/power': {
      const body = (await jsonBody(req)) as { status?: string };
      if (body.status !== 'running' && body.status !== 'stopped')
        throw new ControlError(400, 'status must be running or stopped');
      return sim.setVmPower(vmidOf(id), body.status);
    }
    case 'GET calls':
      return sim.callLog(Number(url.searchParams.get('since') ?? 0));
    case 'DELETE calls':
      sim.clearCallLog();
      return { ok: true };
    case 'GET violations':
      return sim.schemaViolations();
    case 'GET stats':
      return sim.stats();
    case 'GET faults':
      return sim.faults.list();
    case 'POST faults': {
      const body = await jsonBody(req);
      const specs = Array.isArray(body) ? body : [body];
      for (const s of specs)
        if (!checkFault(s))
          throw new ControlError(400, `invalid fault: ${ajv.errorsText(checkFault.errors)}`);
      return { ids: (specs as FaultSpec[]).map((s) => sim.setFault(s)) };
    }
    case 'DELETE faults':
      sim.clearFaults();
      return { ok: true };
    case 'DELETE faults/:id':
      return { removed: sim.removeFault(id) };
    case 'POST guest-commands': {
      const body = (await jsonBody(req)) as GuestCommandSpec;
      if (typeof body.pattern !== 'string' || typeof body.exitCode !== 'number')
        throw new ControlError(400, 'need pattern and exitCode');
      sim.setGuestCommand(body.pattern, body);
      return { ok: true };
    }
    case 'POST tasks/:id/crash':
      return { crashed: sim.crashTask(id) };
    case 'GET tasks/:id': {
      const t = sim.task(id);
      if (!t) throw new ControlError(404, 'no such task');
      return t;
    }
    case 'POST settings': {
      const body = (await jsonBody(req)) as { resourcesLag?: boolean; authFailureDelayMs?: number };
      if (body.resourcesLag !== undefined) sim.resourcesLag = body.resourcesLag;
      if (body.authFailureDelayMs !== undefined) sim.authFailureDelayMs = body.authFailureDelayMs;
      return { resourcesLag: sim.resourcesLag, authFailureDelayMs: sim.authFailureDelayMs };
    }
    default:
      throw new ControlError(404, `unknown control endpoint ${route}`);
  }
}
