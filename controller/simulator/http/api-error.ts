/** An error answered to the API caller with a PVE-style status, message and optional per-parameter errors. */
export class ApiError extends Error {
  readonly status: number;
  readonly errors: Record<string, string> | undefined;
  /** Layer errors (501/506 from the HTTP layer) answer with a plain-text body, handler errors with JSON. */
  readonly plain: boolean;
  /** 401s are answered after the configured delay. */
  readonly delayed: boolean;

  constructor(
    status: number,
    message: string,
    opts: { errors?: Record<string, string>; plain?: boolean; delayed?: boolean } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.errors = opts.errors;
    this.plain = opts.plain ?? false;
    this.delayed = opts.delayed ?? status === 401;
  }
}

/** A plain `die` in a PVE handler: 500 with the text. */
export function fail(message: string): ApiError {
  return new ApiError(500, message);
}

/** A parameter exception (raise_param_exc): 400 "Parameter verification failed." with an errors map. */
export function paramError(errors: Record<string, string>): ApiError {
  return new ApiError(400, 'Parameter verification failed.', { errors });
}

/** 401 from the authentication layer (empty body, reason in the status line, delayed). */
export function authError(message: string): ApiError {
  return new ApiError(401, message, { delayed: true });
}

/** Marker error: the fault injector wants the socket destroyed without an answer. */
export class DropConnection extends Error {
  constructor() {
    super('connection dropped by fault injection');
    this.name = 'DropConnection';
  }
}
