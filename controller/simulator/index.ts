/**
 * A Proxmox VE API simulator on real HTTP(S), following Proxmox's own code (qemu-server, pve-manager,
 * pve-common, pve-http-server, pve-guest-common, pve-storage; each behaviour cites its file and function).
 * Start it with startSimulator(); the API is at `url + '/api2/json'`, the control API at `url + '/_sim/'`.
 */
import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import selfsigned from 'selfsigned';
import type { Logger } from '../log.js';
import { ApiServer } from './api-server.js';
import { handleControl } from './control-api.js';
import { sendError } from './http/respond.js';
import { Simulator } from './simulator.js';
import { preloadSchema } from './schema/pve-schema.js';
import { defaultWorld } from './world/default-world.js';
import { checkWorld, loadWorldFile } from './world/load.js';
import type { WorldConfig } from './world/types.js';

export { Simulator } from './simulator.js';
export type { CallRecord, VmView } from './simulator.js';
export type {
  FaultSpec,
  FaultKind,
  WorldConfig,
  GuestCommandResult,
  GuestCommandSpec,
} from './world/types.js';
export {
  defaultWorld,
  scaledWorld,
  DEFAULT_TEMPLATE_VMID,
  DEFAULT_TEMPLATE_NAME,
} from './world/default-world.js';
export { loadWorldFile, WorldFileError } from './world/load.js';

/** Options of startSimulator(). */
export interface SimulatorOptions {
  /** World object or path to a YAML world file; the default world when absent. */
  world?: WorldConfig | string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** Serve HTTPS with a fresh self-signed certificate (fingerprint reported). */
  tls?: boolean;
  /** 'USER@REALM!TOKENID=SECRET'; generated when absent. */
  token?: string;
  /** user@realm -> password for ticket auth; default root@pam with a generated password. */
  users?: Record<string, string>;
  /** Simulated ms per real ms (default 1): realistic durations are divided by it. */
  timeScale?: number;
  /** 'fast' (default, tests): millisecond durations; 'realistic': the figures of README `simulator`. */
  latency?: 'fast' | 'realistic';
  /** Seed for MACs, latency and fault draws (default 1). */
  seed?: number;
  /** /cluster/resources lags like pvestatd's 10 s broadcasts (default on; the world's `resourcesLag` too). */
  resourcesLag?: boolean;
  /** Models labelled ASSUMPTION on (default on; the world's `assumptions` too). */
  assumptions?: boolean;
  /** Delay of 401 answers in real ms (default 50; real PVE ~3000). */
  authFailureDelayMs?: number;
  logger?: Logger;
}

/** A running simulator. */
export interface RunningSimulator {
  /** Origin, e.g. http://127.0.0.1:40123 (API at url + '/api2/json'). */
  url: string;
  /** 'USER@REALM!TOKENID=SECRET' (without the PVEAPIToken= prefix). */
  token: string;
  /** root@pam password for ticket auth. */
  password: string;
  /** SHA-256 colon hex when tls. */
  fingerprint?: string;
  /** The self-signed certificate PEM when tls. */
  caPem?: string;
  /** In-process access to state, faults and the call log. */
  sim: Simulator;
  close(): Promise<void>;
}

function resolveWorld(world: WorldConfig | string | undefined): WorldConfig {
  if (world === undefined) return defaultWorld();
  if (typeof world === 'string') return loadWorldFile(world);
  return checkWorld(structuredClone(world));
}

/** Starts a simulator on 127.0.0.1 (or opts.host). */
export async function startSimulator(opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  preloadSchema();
  const world = resolveWorld(opts.world);
  const sim = new Simulator({
    world,
    latency: opts.latency ?? 'fast',
    timeScale: opts.timeScale ?? 1,
    seed: opts.seed ?? 1,
    resourcesLag: opts.resourcesLag ?? world.resourcesLag ?? true,
    assumptions: opts.assumptions ?? world.assumptions ?? true,
    authFailureDelayMs: opts.authFailureDelayMs ?? 50,
    token: opts.token,
    users: opts.users,
    logger: opts.logger,
  });
  const api = new ApiServer(sim);
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const done = url.pathname.startsWith('/_sim/')
      ? handleControl(sim, req, res, url)
      : url.pathname === '/api2/json' || url.pathname.startsWith('/api2/json/')
        ? api.handle(req, res, url)
        : Promise.resolve(
            sendError(req, res, 501, `Method '${req.method ?? 'GET'} ${url.pathname}' not implemented`),
          );
    done.catch((err: unknown) => {
      sim.log.warn('simulator request failed', { err: err instanceof Error ? err.message : String(err) });
      if (!res.headersSent) sendError(req, res, 500, 'internal simulator error');
      else res.destroy();
    });
  };
  let server: Server;
  let fingerprint: string | undefined;
  let caPem: string | undefined;
  if (opts.tls) {
    const host = opts.host ?? '127.0.0.1';
    const pems = await selfsigned.generate([{ name: 'commonName', value: 'pve-simulator' }], {
      keyType: 'ec',
      curve: 'P-256',
      notAfterDate: new Date(Date.now() + 365 * 86400 * 1000),
      extensions: [
        { name: 'basicConstraints', cA: true },
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
            { type: 7, ip: '::1' },
            ...(host !== '127.0.0.1' && /^[\d.]+$/.test(host) ? [{ type: 7 as const, ip: host }] : []),
          ],
        },
      ],
    });
    caPem = pems.cert;
    fingerprint = new X509Certificate(pems.cert).fingerprint256;
    server = createHttpsServer({ key: pems.private, cert: pems.cert }, handler);
  } else {
    server = createServer(handler);
  }
  sim.fingerprint = fingerprint;
  // pveproxy: idle keep-alive connections close after ~5 s, at most 100 requests per connection
  server.keepAliveTimeout = 5000;
  server.maxRequestsPerSocket = 100;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const hostPart = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${opts.tls ? 'https' : 'http'}://${hostPart}:${addr.port}`;
  sim.log.info('simulator listening', { url, tls: !!opts.tls });
  const password = sim.auth.users['root@pam'] ?? Object.values(sim.auth.users)[0] ?? '';
  return {
    url,
    token: sim.auth.token,
    password,
    fingerprint,
    caPem,
    sim,
    close: () =>
      new Promise<void>((resolve) => {
        sim.stopAllTasks();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
