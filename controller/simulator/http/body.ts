/** Request bodies and query strings as PVE decodes them (API-NOTES §3). */
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

/** Reads the body (refusing chunked encoding and bodies over 512 KiB with 501, as pveproxy does). */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  if (/chunked/i.test(String(req.headers['transfer-encoding'] ?? '')))
    throw new ApiError(501, 'chunked transfer encoding not supported', { plain: true });
  const len = Number(req.headers['content-length'] ?? 0);
  if (len > MAX_BODY_BYTES) throw new ApiError(501, 'for data too large', { plain: true });
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > MAX_BODY_BYTES) throw new ApiError(501, 'for data too large', { plain: true });
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Parses a POST/PUT body by Content-Type: form (or none) and JSON; anything else is 506. */
export function parseBody(contentType: string | undefined, body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  const ct = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (ct === '' || ct === 'application/x-www-form-urlencoded') return parseForm(body.toString('utf8'));
  if (ct === 'application/json') {
    let data: unknown;
    try {
      data = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new ApiError(400, `malformed JSON string: ${(err as Error).message}`);
    }
    if (data === null || typeof data !== 'object' || Array.isArray(data))
      throw new ApiError(400, 'JSON body must be an object');
    return data as Record<string, unknown>;
  }
  throw new ApiError(506, `upload 'Content-Type '${ct}' not implemented`, { plain: true });
}
