/**
 * How workerctl reaches Proxmox VE from the connection options: the server with its token, CA or
 * pinned fingerprint, validated into a ProxmoxClient, or an in-process simulator with `simulate`.
 * Under systemd the token may come from the credential `pve-token` ($CREDENTIALS_DIRECTORY).
 * The flags and environment variables that fill ConnectionOptions are the CLI's (cli/connection.ts).
 */
import { readFileSync } from 'node:fs';
import { CREDENTIAL, credentialFile } from '../credentials.js';
import { ConfigError, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ProxmoxClient } from '../proxmox/client.js';
import { isLoopbackHost, normaliseApiUrl } from '../proxmox/base-url.js';
import { createProxmoxClient } from '../proxmox/http-client.js';
import type { ProxmoxAuth, ProxmoxClientOptions } from '../proxmox/options.js';
import { DEFAULT_RATE_PER_NODE } from '../proxmox/node-budget.js';
import { readToken } from '../proxmox/token.js';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../simulator/index.js';

/** The connection options (the CLI's flags, camel-cased by commander). */
export interface ConnectionOptions {
  server?: string;
  tokenFile?: string;
  /** Log in as this user with a ticket (e.g. root@pam, which may pass skiplock) instead of a token. */
  user?: string;
  /** The password of `user`, in a file (never on the command line). */
  passwordFile?: string;
  /** Protected API calls in flight per node (the node budget; default 3 = pvedaemon's workers). */
  apiCallsPerNode?: number;
  /** API requests started per node and second (the node budget; default 20, 0 = no limit). */
  apiRatePerNode?: number;
  caFile?: string;
  fingerprint?: string;
  insecure?: boolean;
  simulate?: boolean;
  stateDir?: string;
}

/** A connected client; close() frees sockets and stops the simulator when one was started. */
export interface Connection {
  client: ProxmoxClient;
  /**
   * The client logs in as root@pam itself (a ticket, not a token): PVE lets only it pass `skiplock`
   * (qemu-server PVE/API2/Qemu.pm: "Only root may use this option.").
   */
  rootLogin?: boolean;
  simulator?: RunningSimulator;
  close(): Promise<void>;
  /** Printable target: url, identity (no secret), TLS mode. */
  describe: string;
}

const HOW_TO_CONNECT =
  'no proxmox server given: pass --server URL (or set WORKERCTL_SERVER) with --token-file FILE ' +
  '(or WORKERCTL_TOKEN_FILE, the token itself in WORKERCTL_TOKEN, or the systemd credential pve-token), ' +
  'or use --simulate to run against ' +
  'the embedded simulator';

/** Dependencies and extra client settings (metrics hook, timeouts) for connect(). */
export interface ConnectDeps {
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  clientOptions?: Partial<Omit<ProxmoxClientOptions, 'url' | 'auth' | 'tls'>>;
  /** With --simulate: simulator settings (world, latency, timeScale, ...); default world, fast. */
  simulator?: Omit<SimulatorOptions, 'logger'>;
}

/**
 * Builds the client from the flags: the embedded simulator with --simulate, else the server with a
 * token. Throws UsageError for missing or contradictory flags, ConfigError for a bad token/CA file.
 */
export async function connect(opts: ConnectionOptions, deps: ConnectDeps): Promise<Connection> {
  const env = deps.env ?? process.env;
  const server = opts.server ?? env.WORKERCTL_SERVER;
  const base: Partial<ProxmoxClientOptions> = {
    logger: deps.logger,
    budget: {
      ...(opts.apiCallsPerNode !== undefined ? { perNode: opts.apiCallsPerNode } : {}),
      ratePerNode: opts.apiRatePerNode ?? DEFAULT_RATE_PER_NODE,
    },
    ...deps.clientOptions,
  };

  if (opts.simulate) {
    if (opts.server) throw new UsageError('--simulate and --server exclude each other');
    const simulator = await startSimulator({
      host: '127.0.0.1',
      port: 0,
      ...deps.simulator,
      logger: deps.logger.child({ component: 'simulator' }),
    });
    try {
      const client = createProxmoxClient({
        // Intervals in server time (task listings, the rate budget) run on the simulator's clock.
        timeScale: simulator.sim.latency.pveTimeScale,
        ...base,
        url: simulator.url,
        auth: { kind: 'token', token: simulator.token },
        tls: simulator.fingerprint ? { fingerprint: simulator.fingerprint } : undefined,
      });
      return {
        client,
        simulator,
        describe: `simulator at ${simulator.url}`,
        close: async () => {
          client.close();
          await simulator.close();
        },
      };
    } catch (err) {
      await simulator.close();
      throw err;
    }
  }

  if (!server) throw new UsageError(HOW_TO_CONNECT);
  const url = normaliseApiUrl(server);
  if (url.protocol === 'http:' && !isLoopbackHost(url) && !opts.insecure) {
    throw new UsageError(
      `refusing plain http to ${url.host}: the token would travel unencrypted; use https:// (or --insecure)`,
    );
  }
  if (opts.fingerprint && opts.caFile) throw new UsageError('--fingerprint and --ca-file exclude each other');
  const tls = { caFile: opts.caFile, fingerprint: opts.fingerprint, insecure: opts.insecure };
  const user = opts.user ?? env.WORKERCTL_USER;
  if (user) {
    const auth = ticketAuth(user, opts.passwordFile ?? env.WORKERCTL_PASSWORD_FILE, env);
    const client = createProxmoxClient({ ...base, url: url.href, auth, tls });
    return {
      client,
      rootLogin: isRootLogin(auth),
      describe: client.describe,
      close: () => {
        client.close();
        return Promise.resolve();
      },
    };
  }
  const fromEnv = Boolean(env.WORKERCTL_TOKEN?.trim());
  const tokenFile =
    opts.tokenFile ??
    env.WORKERCTL_TOKEN_FILE ??
    (fromEnv ? undefined : credentialFile(CREDENTIAL.proxmoxToken, env));
  if (!tokenFile && !fromEnv) {
    throw new UsageError(
      `no api token for ${url.host}: pass --token-file FILE (or set WORKERCTL_TOKEN_FILE, the token itself in WORKERCTL_TOKEN, or the systemd credential ${CREDENTIAL.proxmoxToken})`,
    );
  }
  const token = readToken({ tokenFile, env });
  const client = createProxmoxClient({
    ...base,
    url: url.href,
    auth: { kind: 'token', token: token.value },
    tls,
  });
  return {
    client,
    describe: client.describe,
    close: () => {
      client.close();
      return Promise.resolve();
    },
  };
}

/**
 * Ticket login as `user` (USER@REALM) with the password from `file` (or the systemd credential
 * pve-password): the password is never a flag or an environment value, and never printed.
 */
function ticketAuth(user: string, file: string | undefined, env: NodeJS.ProcessEnv): ProxmoxAuth {
  if (!/^[^@\s]+@[A-Za-z][A-Za-z0-9.\-_]*$/.test(user)) {
    throw new UsageError(`--user: '${user}' is not USER@REALM (e.g. root@pam)`);
  }
  const from = file ?? credentialFile(CREDENTIAL.proxmoxPassword, env);
  if (!from) {
    throw new UsageError(
      `--user ${user} needs its password in a file: pass --password-file FILE (or set WORKERCTL_PASSWORD_FILE, or the systemd credential ${CREDENTIAL.proxmoxPassword})`,
    );
  }
  let password: string;
  try {
    password = readFileSync(from, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new ConfigError(
      `cannot read the password file ${from}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  if (!password) throw new ConfigError(`the password file ${from} is empty`);
  return { kind: 'ticket', username: user, password };
}

/** An API endpoint already known (a simulator the caller started, a benchmark's server process). */
export interface Endpoint {
  url: string;
  /** API token USER@REALM!TOKENID=SECRET. */
  token: string;
  fingerprint?: string;
  /** Log in with a ticket instead of the token (e.g. root@pam of a simulator). */
  auth?: ProxmoxAuth;
}

/** True for a ticket login as root@pam (the only caller PVE lets pass `skiplock`). */
export function isRootLogin(auth: ProxmoxAuth): boolean {
  return auth.kind === 'ticket' && auth.username === 'root@pam';
}

/** A client for an endpoint; close() frees its sockets (it never stops the endpoint). */
export function connectEndpoint(
  endpoint: Endpoint,
  deps: Omit<ConnectDeps, 'env' | 'simulator'>,
): Connection {
  const auth: ProxmoxAuth = endpoint.auth ?? { kind: 'token', token: endpoint.token };
  const client = createProxmoxClient({
    logger: deps.logger,
    ...deps.clientOptions,
    url: endpoint.url,
    auth,
    tls: endpoint.fingerprint ? { fingerprint: endpoint.fingerprint } : undefined,
  });
  return {
    client,
    rootLogin: isRootLogin(auth),
    describe: `proxmox at ${endpoint.url}`,
    close: () => {
      client.close();
      return Promise.resolve();
    },
  };
}
