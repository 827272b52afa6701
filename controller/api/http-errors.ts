/** Maps errors to HTTP answers: a status code and a JSON body `{error: {code, message, param?}}`. */
import { UsageError, errorMessage } from '../errors.js';
import {
  InvalidRequestError,
  NoWorkerAvailableError,
  UnknownSessionError,
  UnknownWorkerError,
  WorkerBusyError,
} from '../lifecycle/errors.js';
import { redactText } from '../redact.js';

/** An error with its HTTP status, raised by the routes themselves. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly param?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface ErrorBody {
  error: { code: string; message: string; param?: string };
}

/** Status, headers and body for any thrown value. */
export function toHttpError(err: unknown): {
  status: number;
  headers: Record<string, string>;
  body: ErrorBody;
} {
  const pick = (status: number, code: string, param?: string, headers: Record<string, string> = {}) => ({
    status,
    headers,
    body: { error: { code, message: redactText(errorMessage(err)), ...(param ? { param } : {}) } },
  });
  if (err instanceof HttpError) return pick(err.status, err.code, err.param, err.headers);
  if (err instanceof InvalidRequestError) return pick(400, 'invalid_parameter', err.param);
  if (err instanceof UsageError) return pick(400, 'invalid_parameter');
  if (err instanceof UnknownWorkerError) return pick(404, 'worker_not_found');
  if (err instanceof UnknownSessionError) return pick(404, 'session_not_found');
  if (err instanceof WorkerBusyError) return pick(409, 'worker_busy');
  if (err instanceof NoWorkerAvailableError) return pick(503, 'no_worker_available');
  return pick(500, 'internal_error');
}
