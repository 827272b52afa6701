/** POST/GET /access/ticket (pve-access-control PVE/API2/AccessControl.pm create_ticket). */
import { ApiError } from '../http/api-error.js';
import type { ApiRequest } from '../http/router.js';
import type { Simulator } from '../simulator.js';
import { optStr, str } from './params.js';

export function postTicket(sim: Simulator, req: ApiRequest): unknown {
  const ok = sim.auth.login(str(req, 'username'), str(req, 'password'), optStr(req, 'realm'));
  if (!ok) throw new ApiError(401, 'authentication failure', { delayed: true });
  return {
    username: ok.user,
    ticket: sim.auth.ticketFor(ok.user),
    CSRFPreventionToken: sim.auth.csrfFor(ok.user),
    clustername: sim.world.clusterName,
    cap: {
      vms: { 'VM.Audit': 1, 'VM.PowerMgmt': 1, 'VM.Allocate': 1, 'VM.Clone': 1, 'VM.Config.Options': 1 },
    },
  };
}

export function getTicket(): unknown {
  return null;
}
