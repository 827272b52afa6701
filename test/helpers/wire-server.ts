/**
 * A bare node:http(s) server for wire-level client tests (got's withServer style): every request is
 * recorded byte-exact, and the test decides the answer.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  /** Raw request target, e.g. /api2/json/nodes/pve1/qemu/100/config?current=1 */
  url: string;
  /** Raw path below /api2/json, still percent-encoded. */
  path: string;
  /** Raw query string (without '?'). */
  query: string;
  body: string;
  headers: http.IncomingHttpHeaders;
  /** Remote port: differs when the client opened a fresh socket. */
  remotePort: number;
  /** How many requests this socket carried before this one. */
  socketSeq: number;
}

export type Handler = (
  req: Recorded,
  res: http.ServerResponse,
  raw: http.IncomingMessage,
) => void | Promise<void>;

export interface WireServer {
  url: string;
  requests: Recorded[];
  handler: Handler;
  close(): Promise<void>;
}

/** Answers {data} with status 200. */
export function ok(res: http.ServerResponse, data: unknown, extra: Record<string, unknown> = {}): void {
  const body = JSON.stringify({ data, ...extra });
  res.writeHead(200, {
    'content-type': 'application/json;charset=UTF-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** Answers an error like PVE: reason phrase, JSON body, Connection: close. */
export function fail(
  res: http.ServerResponse,
  status: number,
  reason: string,
  body: Record<string, unknown> | string = { data: null },
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.shouldKeepAlive = false;
  res.writeHead(status, reason, {
    'content-type': typeof body === 'string' ? 'text/plain' : 'application/json;charset=UTF-8',
    'content-length': Buffer.byteLength(text),
    connection: 'close',
  });
  res.end(text);
}

export async function startWireServer(
  handler: Handler,
  tls?: { key: string; cert: string },
): Promise<WireServer> {
  const seq = new WeakMap<object, number>();
  const state: WireServer = {
    url: '',
    requests: [],
    handler,
    close: async () => undefined,
  };
  const listener = (raw: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    raw.on('data', (c: Buffer) => chunks.push(c));
    raw.on('end', () => {
      const n = seq.get(raw.socket) ?? 0;
      seq.set(raw.socket, n + 1);
      const target = raw.url ?? '';
      const q = target.indexOf('?');
      const fullPath = q >= 0 ? target.slice(0, q) : target;
      const rec: Recorded = {
        method: raw.method ?? '',
        url: target,
        path: fullPath.replace(/^\/api2\/json/, ''),
        query: q >= 0 ? target.slice(q + 1) : '',
        body: Buffer.concat(chunks).toString('utf8'),
        headers: raw.headers,
        remotePort: raw.socket.remotePort ?? 0,
        socketSeq: n,
      };
      state.requests.push(rec);
      Promise.resolve(state.handler(rec, res, raw)).catch((err: unknown) => {
        fail(res, 599, `test handler failed: ${String(err)}`);
      });
    });
  };
  const server = tls
    ? https.createServer({ key: tls.key, cert: tls.cert }, listener)
    : http.createServer(listener);
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  state.url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

export const TEST_TOKEN = 'workerctl@pve!ci=0b6f0e43-9c44-4b0e-9a8e-7e8b1d2c3f4a';
export const TEST_SECRET = '0b6f0e43-9c44-4b0e-9a8e-7e8b1d2c3f4a';
export const UPID_CLONE = 'UPID:pve1:00000ACD:00006AE8:679A423B:qmclone:9000:workerctl@pve!ci:';

/** Client options for fast tests: no jitter, millisecond backoff and polling. */
export const FAST = {
  retry: { baseDelayMs: 1, maxDelayMs: 5, jitter: 0 },
  // Per-task polling: the wire tests of tasks.ts (task-watch.ts has its own).
  taskPoll: { mode: 'task', initialMs: 1, maxMs: 5, factor: 2 },
} as const;
