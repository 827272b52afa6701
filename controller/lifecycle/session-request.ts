/** A session request as a job sends it, and its checks (each error names the parameter, HTTP 400). */
import type { SessionKind } from '../types.js';
import { InvalidRequestError } from './errors.js';
import type { LifecycleSettings } from './settings.js';

export interface SessionRequest {
  host: string;
  tasks?: number;
  kind?: SessionKind;
  leaseMs?: number;
  /** Wait at most this long for a usable worker (default settings.sessionWaitMs). */
  waitMs?: number;
}

/** A request with every value checked and defaulted. */
export type NormalRequest = Required<SessionRequest>;

/** Validates a request's values against the settings, naming the offending parameter. */
export function normaliseRequest(req: SessionRequest, settings: LifecycleSettings): NormalRequest {
  if (typeof req.host !== 'string' || !/^[a-zA-Z0-9][a-zA-Z0-9.-]*$/.test(req.host)) {
    throw new InvalidRequestError('host must be a Proxmox node name', 'host');
  }
  const tasks = req.tasks ?? 1;
  if (!Number.isInteger(tasks) || tasks < 1 || tasks > 1000) {
    throw new InvalidRequestError('tasks must be an integer from 1 to 1000', 'tasks');
  }
  const kind = req.kind ?? 'backup';
  if (kind !== 'backup' && kind !== 'restore')
    throw new InvalidRequestError('kind must be backup or restore', 'kind');
  const leaseMs = req.leaseMs ?? settings.defaultLeaseMs;
  if (!Number.isFinite(leaseMs) || leaseMs < 1000 || leaseMs > settings.maxLeaseMs) {
    throw new InvalidRequestError(
      `lease must be from 1 s to ${Math.round(settings.maxLeaseMs / 1000)} s`,
      'lease',
    );
  }
  const waitMs = req.waitMs ?? settings.sessionWaitMs;
  if (!Number.isFinite(waitMs) || waitMs < 0) throw new InvalidRequestError('wait must be 0 or more', 'wait');
  return { host: req.host, tasks, kind, leaseMs, waitMs };
}
