/**
 * Request bodies and query strings as pve-http-server PVE/APIServer/AnyEvent.pm decodes them
 * (decode_urlencoded, extract_params, the Content-Length and Content-Type checks of
 * authenticate_and_handle_request).
 */
import type { IncomingMessage } from 'node:http';
import { ApiError } from './api-error.js';

/** The body size limit of libpve-http-server-perl >= 5.2.1. */
export const MAX_BODY_BYTES = 512 * 1024;

/** Form/query decoding: `+` is a space, %XX is UTF-8, a repeated key becomes an array. */
export function parseForm(text: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (text === '') return out;
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawKey = eq < 0 ? pair : pair.slice(0, eq);
    const rawVal = eq < 0 ? '' : pair.slice(eq + 1);
    const key = decode(rawKey);
    const val = decode(rawVal);
    const prev = out[key];
    if (prev === undefined) out[key] = val;
    else if (Array.isArray(prev)) prev.push(val);
    else out[key] = [prev, val];
  }
  return out;
}

function decode(s: string): string {
  const plus = s.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  }
}

/** AnyEvent.pm process_header: chunked (or any) transfer encoding is refused before authentication. */
export function checkTransferEncoding(req: IncomingMessage): void {
  const te = req.headers['transfer-encoding'];
  if (te === undefined) return;
  if (String(te).toLowerCase() === 'chunked')
    throw new ApiError(501, 'chunked transfer encoding not supported', { plain: true });
  throw new ApiError(501, `Unknown transfer encoding '${String(te)}'`, { plain: true });
}

/** Reads the body, at most 512 KiB of it; `tooLarge` when there was more (checked after authentication). */
export async function readBody(req: IncomingMessage): Promise<{ body: Buffer; tooLarge: boolean }> {
  const chunks: Buffer[] = [];
  let total = 0;
  let tooLarge = Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > MAX_BODY_BYTES) tooLarge = true;
    else chunks.push(chunk as Buffer);
  }
  return { body: Buffer.concat(chunks), tooLarge };
}

/**
 * AnyEvent.pm authenticate_and_handle_request, after authentication: content only on PUT/POST, at most
 * 512 KiB ($limit_max_post), form or JSON (anything else 506). These are HTTP-layer errors (error()).
 */
export function checkBody(
  method: string,
  contentType: string | undefined,
  read: { body: Buffer; tooLarge: boolean },
): void {
  if (read.body.length === 0 && !read.tooLarge) return;
  if (method !== 'PUT' && method !== 'POST')
    throw new ApiError(501, `Unexpected content for method '${method}'`, { plain: true });
  if (read.tooLarge) throw new ApiError(501, 'for data too large', { plain: true });
  const ct = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (ct !== '' && ct !== 'application/x-www-form-urlencoded' && ct !== 'application/json')
    throw new ApiError(506, `upload 'Content-Type '${contentType ?? ''}' not implemented`, { plain: true });
}

/**
 * AnyEvent.pm extract_params: a JSON body (decode_json) or form data. A body that does not decode dies
 * inside handle_api2_request, whose eval answers 500 through error() (plain, no Content-Type).
 */
export function parseBody(contentType: string | undefined, body: Buffer): Record<string, unknown> {
  const ct = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (ct !== 'application/json') return body.length === 0 ? {} : parseForm(body.toString('utf8'));
  const text = body.toString('utf8');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    const at = Number(/position (\d+)/.exec((err as Error).message)?.[1] ?? 0);
    const before = text.slice(at, at + 20);
    throw new ApiError(
      500,
      `malformed JSON string, neither tag, array, object, number, string or atom, at character offset ${at} (before "${before || '(end of string)'}")\n`,
      { plain: true },
    );
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data))
    throw new ApiError(500, 'Not a HASH reference\n', { plain: true });
  return data as Record<string, unknown>;
}
