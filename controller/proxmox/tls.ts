/**
 * TLS trust for the PVE API: a CA file (the cluster's pve-root-ca.pem, pve-cluster
 * PVE/Cluster/Setup.pm gen_pveca_cert), a pinned SHA-256 certificate fingerprint (GET /nodes
 * ssl_fingerprint, pve-manager PVE/API2/Nodes.pm), or, explicitly, no verification.
 *
 * Why pinning lives in an Agent and not only in checkServerIdentity: Node calls checkServerIdentity
 * only after the chain verified, which a self-signed PVE certificate never does; and with
 * rejectUnauthorized=false a checkServerIdentity error is ignored. So the pinned agent completes the
 * handshake itself, compares cert.fingerprint256 case-insensitively, and hands the socket to HTTP
 * only on a match: no request byte (and no token) is written to an unpinned peer.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ProxmoxTlsOptions } from './options.js';

const FINGERPRINT_RE = /^([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2}$/;

/** Normalises a SHA-256 fingerprint to upper-case colon form; accepts bare hex too. */
export function normaliseFingerprint(fp: string): string {
  let s = fp.trim().replace(/^sha256[:=]?/i, '');
  if (/^[A-Fa-f0-9]{64}$/.test(s)) s = s.match(/../g)!.join(':');
  if (!FINGERPRINT_RE.test(s)) {
    throw new ConfigError(`invalid certificate fingerprint '${fp}': expected 32 hex bytes like AB:CD:...`);
  }
  return s.toUpperCase();
}

/** Equality of two fingerprints, case-insensitive. */
export function fingerprintsMatch(a: string | undefined, b: string): boolean {
  return typeof a === 'string' && a.toUpperCase() === b.toUpperCase();
}

/** The error a fingerprint mismatch fails the connection with (mapped to TlsError). */
export class FingerprintMismatch extends Error {
  readonly code = 'ERR_PVE_FINGERPRINT_MISMATCH';
  constructor(expected: string, actual: string | undefined) {
    super(`server certificate fingerprint ${actual ?? '(none)'} does not match the pinned ${expected}`);
  }
}

/** An https.Agent that only hands over sockets whose certificate has the pinned fingerprint. */
export class PinnedAgent extends https.Agent {
  constructor(
    private readonly fingerprint: string,
    options: https.AgentOptions,
  ) {
    super(options);
  }

  override createConnection(
    options: https.RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    // Trust comes from the pin alone, so the chain check is off on this socket only.
    const socket = tls.connect({ ...(options as tls.ConnectionOptions), rejectUnauthorized: false });
    const done = callback ?? (() => undefined);
    const cb = (err: Error | null, s?: Duplex) => done(err, s as Duplex);
    const onError = (err: Error) => cb(err);
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      socket.removeListener('error', onError);
      const actual = socket.getPeerCertificate()?.fingerprint256;
      if (!fingerprintsMatch(actual, this.fingerprint)) {
        const err = new FingerprintMismatch(this.fingerprint, actual);
        socket.destroy();
        cb(err);
        return;
      }
      cb(null, socket);
    });
    return undefined;
  }
}

/** TLS settings for got plus the https agent to use. */
export interface TlsSetup {
  agent: https.Agent;
  https: { certificateAuthority?: string; rejectUnauthorized: boolean };
  describe: string;
}

/** Builds the https agent and got https options from our TLS options. */
export function buildTls(
  opts: ProxmoxTlsOptions | undefined,
  agentOptions: https.AgentOptions,
  logger?: Logger,
): TlsSetup {
  let ca = opts?.ca;
  if (opts?.caFile) {
    try {
      ca = readFileSync(opts.caFile, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `cannot read ca file ${opts.caFile}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      );
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ConfigError(`ca file ${opts.caFile} holds no PEM certificate`);
    }
  }
  if (opts?.fingerprint) {
    const fp = normaliseFingerprint(opts.fingerprint);
    return {
      agent: new PinnedAgent(fp, agentOptions),
      https: { rejectUnauthorized: false },
      describe: `pinned fingerprint ${fp.slice(0, 11)}...`,
    };
  }
  if (opts?.insecure) {
    logger?.warn('tls verification disabled', {
      hint: 'use --ca-file or --fingerprint instead of --insecure',
    });
    return {
      agent: new https.Agent(agentOptions),
      https: { rejectUnauthorized: false },
      describe: 'insecure',
    };
  }
  return {
    agent: new https.Agent(agentOptions),
    https: { certificateAuthority: ca, rejectUnauthorized: true },
    describe: ca ? 'ca file' : 'system ca',
  };
}
