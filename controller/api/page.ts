/**
 * The fleet page: the static files of web/ (shipped in the npm package, no build step), served at `/`
 * and `/ui/FILE` on the API's listener with a strict Content-Security-Policy: everything from this
 * controller, no inline script or style, no framing. The page builds its DOM from the JSON API with
 * textContent only, so no value from a manifest is ever markup.
 */
import type { ServerResponse } from 'node:http';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { webDir } from '../paths.js';
import { HttpError } from './http-errors.js';
import type { Route } from './routes.js';

export const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  type: string;
  body: Buffer;
}

/** The page's files by name, read once (a few kilobytes); only the types above are served. */
export function readPageAssets(dir = webDir): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(dir)) return assets;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const type = TYPES[extname(entry.name)];
    if (entry.isFile() && type) assets.set(entry.name, { type, body: readFileSync(join(dir, entry.name)) });
  }
  return assets;
}

function serve(res: ServerResponse, asset: Asset): void {
  res.writeHead(200, {
    'content-type': asset.type,
    'content-length': asset.body.length,
    'cache-control': 'no-cache',
    'content-security-policy': PAGE_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
  });
  res.end(asset.body);
}

/** GET / (the page) and GET /ui/FILE (its scripts, style sheet and icon). */
export function pageRoutes(assets = readPageAssets()): Route[] {
  const find = (name: string): Asset => {
    const asset = assets.get(name);
    if (!asset) throw new HttpError(404, 'not_found', `no such file of the fleet page: ${name}`);
    return asset;
  };
  return [
    {
      method: 'GET',
      pattern: /^\/$/,
      name: '/',
      handler: async (_q, res) => serve(res, find('index.html')),
    },
    {
      method: 'GET',
      pattern: /^\/ui\/([A-Za-z0-9_-]+\.[a-z]+)$/,
      name: '/ui/:file',
      handler: async (_q, res, [name]) => serve(res, find(name!)),
    },
  ];
}
