/**
 * Writes answers as pve-http-server PVE/APIServer/AnyEvent.pm response() does: the reason phrase is the
 * message's first line, Connection: close on every error, gzip over 1 KiB when asked; bodies as
 * PVE/APIServer/Formatter/Standard.pm formats them ({data}, plus message and errors on errors).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';

/** A success answer with extra top-level fields (e.g. `total` of the task log). */
export class Envelope {
  constructor(
    readonly data: unknown,
    readonly extra: Record<string, unknown>,
  ) {}
}

/** `data` already serialised as JSON (big lists built from cached per-entry JSON). */
export class RawJson {
  constructor(readonly json: string) {}
}

/** Reason phrases must be one printable line. */
export function reasonPhrase(message: string): string {
  const first = message.replace(/\n+$/, '').split('\n')[0];
  return first.replace(/[^\x20-\x7e]/g, '?').slice(0, 512) || 'error';
}

function baseHeaders(res: ServerResponse): void {
  res.setHeader('Server', 'pve-api-daemon/3.0');
  res.setHeader('Cache-Control', 'max-age=0');
  res.setHeader('Pragma', 'no-cache');
  res.setHeader('Expires', new Date().toUTCString());
}

function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  reason: string | undefined,
  body: string,
  type: string | undefined,
): void {
  baseHeaders(res);
  let buf: Buffer = Buffer.from(body, 'utf8');
  if (buf.length > 1024 && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
    buf = gzipSync(buf);
    res.setHeader('Content-Encoding', 'gzip');
  }
  if (buf.length > 0 && type !== undefined) res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', buf.length);
  if (status >= 400) res.setHeader('Connection', 'close');
  res.statusCode = status;
  if (reason !== undefined) res.statusMessage = reason;
  res.end(buf);
}

/** 200 {"data": ...}. */
export function sendData(req: IncomingMessage, res: ServerResponse, result: unknown): void {
  if (result instanceof RawJson)
    return send(req, res, 200, 'OK', `{"data":${result.json}}`, 'application/json;charset=UTF-8');
  const body = result instanceof Envelope ? { data: result.data, ...result.extra } : { data: result ?? null };
  send(req, res, 200, 'OK', JSON.stringify(body), 'application/json;charset=UTF-8');
}

/**
 * An error: reason phrase = first line; JSON body {data:null, message, errors?}; or, for errors of the HTTP
 * layer (AnyEvent.pm error()), the message itself as body without a Content-Type; or an empty body.
 */
export function sendError(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  message: string,
  opts: { errors?: Record<string, string>; plain?: boolean; empty?: boolean } = {},
): void {
  const reason = reasonPhrase(message);
  if (opts.empty) return send(req, res, status, reason, '', undefined);
  if (opts.plain) return send(req, res, status, reason, message, undefined);
  const body: Record<string, unknown> = { data: null, message: `${message.replace(/\n+$/, '')}\n` };
  if (opts.errors) body.errors = opts.errors;
  send(req, res, status, reason, JSON.stringify(body), 'application/json;charset=UTF-8');
}

/** A JSON answer for the /_sim control API. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const buf = Buffer.from(JSON.stringify(body));
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', buf.length);
  res.end(buf);
}
