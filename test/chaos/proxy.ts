/**
 * A loopback HTTP proxy between the controller and the simulator that loses answers: a mutating
 * request (POST, PUT, DELETE) is forwarded and carried out, and then, with the chance set, its
 * answer is dropped (the socket is destroyed). That is a lost response as the controller meets it
 * on a real network: the call's fate is unknown, and it must look rather than send again.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LossyProxy {
  url: string;
  /** Chance (0..1) that a mutating call's answer is lost. */
  lossRate: number;
  /** Answers lost so far. */
  readonly lost: number;
  close(): Promise<void>;
}

export async function startLossyProxy(target: string, random: () => number): Promise<LossyProxy> {
  const to = new URL(target);
  let lost = 0;
  const state = { lossRate: 0 };
  const server: Server = createServer((req, res) => {
    const mutating = req.method !== 'GET' && req.method !== 'HEAD';
    const upstream = request(
      {
        host: to.hostname,
        port: to.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        if (mutating && random() < state.lossRate) {
          lost++;
          answer.resume();
          answer.on('end', () => res.socket?.destroy());
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.socket?.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get lossRate() {
      return state.lossRate;
    },
    set lossRate(v: number) {
      state.lossRate = v;
    },
    get lost() {
      return lost;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
