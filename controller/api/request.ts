/** Reading API requests and writing answers: JSON bodies (bounded), typed parameters that name themselves. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseDuration } from '../duration.js';
import { HttpError } from './http-errors.js';

const MAX_BODY = 64 * 1024;

/** A request's path and query, read defensively: anything malformed is a 400, never a thrown TypeError. */
export interface RequestTarget {
  path: string;
  query: URLSearchParams;
}

/**
 * Parses the request target (origin form `/a?b`, or the absolute form `http://host/a?b` that HTTP/1.1
 * servers must accept). A target that is not a URL (`http://[::1/`, `*`) is a 400.
 */
export function parseTarget(raw: string | undefined): RequestTarget {
  const target = raw ?? '/';
  let url: URL;
  try {
    if (!target.startsWith('/') && !/^https?:\/\//i.test(target)) throw new TypeError('not a path');
    url = new URL(target, 'http://localhost');
  } catch {
    throw new HttpError(400, 'invalid_request', 'the request target is not a valid path');
  }
  return { path: url.pathname, query: url.searchParams };
}

/** Decodes one path segment; a bad %-escape is a 400 naming the segment's parameter. */
export function decodeSegment(segment: string, param: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, 'invalid_parameter', `${param} in the path has an invalid %-escape`, param);
  }
}

export function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export async function readJson(req: IncomingMessage, maxBytes = MAX_BODY): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new HttpError(413, 'body_too_large', `request body over ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, 'invalid_json', `request body is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new HttpError(400, 'invalid_json', 'request body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

/** A duration parameter: a number of seconds or a string like 15m. */
export function durationParam(body: Record<string, unknown>, name: string): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.round(v * 1000);
  if (typeof v === 'string') {
    try {
      return parseDuration(v, name);
    } catch (err) {
      throw new HttpError(400, 'invalid_parameter', (err as Error).message, name);
    }
  }
  throw new HttpError(400, 'invalid_parameter', `${name} must be seconds or a duration like 15m`, name);
}

export function stringParam(
  body: Record<string, unknown>,
  name: string,
  required = false,
): string | undefined {
  const v = body[name];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v === '')
    throw new HttpError(400, 'invalid_parameter', `${name} must be a non-empty string`, name);
  return v;
}

export function intParam(body: Record<string, unknown>, name: string): number | undefined {
  const v = body[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw new HttpError(400, 'invalid_parameter', `${name} must be an integer`, name);
  return v;
}
