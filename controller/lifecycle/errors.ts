/** Errors of the lifecycle; the HTTP API maps each to a status code (api/http-errors.ts). */
import { WorkerctlError } from '../errors.js';

/** No worker of that name (404). */
export class UnknownWorkerError extends WorkerctlError {}
/** No session of that id (404); says why when it ended recently. */
export class UnknownSessionError extends WorkerctlError {}
/** The worker is busy in a way that forbids the request, e.g. a test while it serves sessions (409). */
export class WorkerBusyError extends WorkerctlError {}
/** No usable worker within the wait limit (503); the message says why for each worker. */
export class NoWorkerAvailableError extends WorkerctlError {}
/** A request value is out of range (400); `param` names it. */
export class InvalidRequestError extends WorkerctlError {
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
  }
}
