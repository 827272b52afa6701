/**
 * The route of `POST /v1/plan` (plan-request.ts says what it takes): authenticated like every POST,
 * read-only (the plan runs on a copy of the store with a client that refuses every change; the
 * composition root runs one at a time, compose/preview.ts), and a bounded number may wait.
 */
import { HttpError } from './http-errors.js';
import { PLAN_MAX_BODY, parsePlanRequest } from './plan-request.js';
import { readJson, send } from './request.js';
import type { Route } from './routes.js';
import type { ApiServices } from './server.js';

/** Plans in progress or waiting beyond this many are refused (503): CI retries later. */
const MAX_QUEUE = 8;

export function planRoute(services: ApiServices): Route {
  let waiting = 0;
  return {
    method: 'POST',
    pattern: /^\/v1\/plan$/,
    name: '/v1/plan',
    handler: async (req, res) => {
      const plan = services.previewPlan;
      if (!plan) throw new HttpError(503, 'unavailable', 'plans are not available in this controller');
      const request = parsePlanRequest(await readJson(req, PLAN_MAX_BODY));
      if (waiting >= MAX_QUEUE)
        throw new HttpError(503, 'busy', `${waiting} plans are waiting already; try again shortly`);
      waiting++;
      try {
        send(res, 200, await plan(request));
      } finally {
        waiting--;
      }
    },
  };
}
