/**
 * Read-only views of the controller as a whole, for the fleet page and for people:
 *
 *   GET /v1/plan        what is still to do per worker, and what is blocked and why (from the last
 *                       observation: no Proxmox call)
 *   GET /v1/manifests   the manifests' health: invalid files at file:line:col, last clean load,
 *                       the loaded revision, deletions held back
 */
import type { Plan } from '../reconcile/contracts.js';
import { redact } from '../redact.js';
import { HttpError } from './http-errors.js';
import { send } from './request.js';
import type { Route } from './routes.js';
import type { ApiServices } from './server.js';

/** The plan as the API shows it: actions by worker, secrets masked. */
export function planView(plan: Plan) {
  const actions = [...plan.actions]
    .sort((a, b) => a.worker.localeCompare(b.worker))
    .map((a) => ({
      worker: a.worker,
      kind: a.kind,
      class: a.class,
      reason: a.reason,
      ...(a.blockedBy ? { blockedBy: a.blockedBy } : {}),
      changes: a.changes,
    }));
  return redact({ converged: plan.converged, actions, massDeleteBlocked: plan.massDeleteBlocked ?? null });
}

export function fleetRoutes(services: Pick<ApiServices, 'plan' | 'manifests' | 'isReady'>): Route[] {
  return [
    {
      method: 'GET',
      pattern: /^\/v1\/plan$/,
      name: '/v1/plan',
      handler: async (_q, res) => {
        if (!services.plan)
          throw new HttpError(503, 'unavailable', 'the plan is not available in this controller');
        // Before the first full observation a plan would take every recorded VM for gone.
        if (!services.isReady())
          throw new HttpError(503, 'not_ready', 'the plan needs the first full observation of the cluster');
        send(res, 200, planView(services.plan()));
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/manifests$/,
      name: '/v1/manifests',
      handler: async (_q, res) => {
        if (!services.manifests)
          throw new HttpError(503, 'unavailable', 'the manifests are not followed by this controller');
        send(res, 200, redact(services.manifests()));
      },
    },
  ];
}
