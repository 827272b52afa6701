/** CLI connection flags: parsing, env fallbacks, refusals, the token from env, and --simulate. */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { addConnectionOptions } from '../../controller/cli/connection.js';
import { connect, type ConnectionOptions } from '../../controller/compose/connection.js';
import { ConfigError, UsageError } from '../../controller/errors.js';
import { silentLogger } from '../../controller/log.js';
import { startSimulator } from '../../controller/simulator/index.js';
import { TEST_SECRET, TEST_TOKEN, ok, startWireServer } from '../helpers/wire-server.js';

const deps = (env: NodeJS.ProcessEnv = {}) => ({ logger: silentLogger(), env });

function parse(args: string[], env: Record<string, string> = {}): ConnectionOptions {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const cmd = addConnectionOptions(new Command('t').exitOverride());
    cmd.parse(args, { from: 'user' });
    return cmd.opts<ConnectionOptions>();
  } finally {
    for (const k of Object.keys(env)) {
      if (k in saved) process.env[k] = saved[k];
      else delete process.env[k];
    }
  }
}

describe('cli connection', function () {
  this.timeout(20_000);

  it('parses the flags with their defaults and env fallbacks', () => {
    expect(
      parse(['--server', 'https://pve1:8006', '--token-file', 't', '--fingerprint', 'AB', '--insecure']),
    ).to.deep.equal({
      server: 'https://pve1:8006',
      tokenFile: 't',
      fingerprint: 'AB',
      insecure: true,
      stateDir: '.workerctl',
    });
    expect(
      parse([], { WORKERCTL_SERVER: 'https://pve2:8006', WORKERCTL_TOKEN_FILE: '/run/token' }),
    ).to.include({
      server: 'https://pve2:8006',
      tokenFile: '/run/token',
    });
    expect(parse(['--simulate', '--state-dir', '/tmp/x'])).to.include({ simulate: true, stateDir: '/tmp/x' });
  });

  it('explains the flags and env when no server is given', async () => {
    const err = await connect({}, deps()).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(UsageError);
    expect((err as Error).message).to.match(
      /--server URL.*WORKERCTL_SERVER.*--token-file FILE.*WORKERCTL_TOKEN.*--simulate/,
    );
  });

  it('refuses plain http to a non-loopback host unless --insecure, and a missing token', async () => {
    const env = { WORKERCTL_TOKEN: TEST_TOKEN };
    expect(
      await connect({ server: 'http://pve1:8006' }, deps(env)).catch((e: unknown) => e),
    ).to.be.instanceOf(UsageError);
    const c = await connect({ server: 'http://pve1:8006', insecure: true }, deps(env));
    await c.close();
    const noToken = await connect({ server: 'https://pve1:8006' }, deps()).catch((e: unknown) => e);
    expect(noToken).to.be.instanceOf(UsageError);
    expect((noToken as Error).message).to.match(/no api token for pve1:8006/);
    const badToken = await connect(
      { server: 'https://pve1:8006' },
      deps({ WORKERCTL_TOKEN: 'root@pam=abc-secret' }),
    ).catch((e: unknown) => e);
    expect(badToken).to.be.instanceOf(ConfigError);
    expect((badToken as Error).message).not.to.contain('abc-secret');
  });

  it('connects to a server with the token from WORKERCTL_TOKEN; describe names the token id only', async () => {
    const server = await startWireServer((_req, res) => ok(res, { version: '9.1.2', release: '9.1' }));
    try {
      const c = await connect({ server: server.url }, deps({ WORKERCTL_TOKEN: `PVEAPIToken=${TEST_TOKEN}` }));
      try {
        expect(await c.client.version()).to.include({ version: '9.1.2' });
        expect(c.describe).to.contain('workerctl@pve!ci');
        expect(c.describe).not.to.contain(TEST_SECRET);
        expect(c.simulator).to.equal(undefined);
        expect(server.requests[0]!.headers.authorization).to.equal(`PVEAPIToken=${TEST_TOKEN}`);
      } finally {
        await c.close();
      }
    } finally {
      await server.close();
    }
  });

  it('reads the token from the systemd credential pve-token when no flag or variable names one', async () => {
    const server = await startWireServer((_req, res) => ok(res, { version: '9.1.2', release: '9.1' }));
    const dir = mkdtempSync(join(tmpdir(), 'wctl-cred-'));
    try {
      writeFileSync(join(dir, 'pve-token'), `${TEST_TOKEN}\n`, { mode: 0o600 });
      const c = await connect({ server: server.url }, deps({ CREDENTIALS_DIRECTORY: dir }));
      try {
        await c.client.version();
        expect(server.requests[0]!.headers.authorization).to.equal(`PVEAPIToken=${TEST_TOKEN}`);
      } finally {
        await c.close();
      }
      // A flag or variable still wins over the credential; a directory without it is no token at all.
      const flagged = await connect(
        { server: server.url, tokenFile: join(dir, 'missing') },
        deps({ CREDENTIALS_DIRECTORY: dir }),
      ).catch((e: unknown) => e);
      expect(flagged).to.be.instanceOf(ConfigError);
      expect((flagged as Error).message).to.contain('missing');
      const empty = mkdtempSync(join(tmpdir(), 'wctl-cred-'));
      const none = await connect({ server: server.url }, deps({ CREDENTIALS_DIRECTORY: empty })).catch(
        (e: unknown) => e,
      );
      expect(none).to.be.instanceOf(UsageError);
      expect((none as Error).message).to.contain('systemd credential pve-token');
      rmSync(empty, { recursive: true, force: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await server.close();
    }
  });

  it('--simulate starts the embedded simulator and connects to it over HTTP', async () => {
    const c = await connect({ simulate: true }, deps());
    try {
      expect(c.simulator).to.not.equal(undefined);
      expect(c.describe).to.match(/^simulator at http:\/\/127\.0\.0\.1:\d+$/);
      const res = await c.client.vmResources();
      expect(res.some((r) => r.template)).to.equal(true);
      expect(c.simulator!.sim.callLog().some((r) => r.path === '/cluster/resources')).to.equal(true);
    } finally {
      await c.close();
    }
    expect(
      await connect({ simulate: true, server: 'https://x' }, deps()).catch((e: unknown) => e),
    ).to.be.instanceOf(UsageError);
  });

  it('--user with --password-file logs in with a ticket (root@pam may skiplock); the password never on the command line or in an error', async () => {
    const sim = await startSimulator({ latency: 'fast', authFailureDelayMs: 0 });
    const dir = mkdtempSync(join(tmpdir(), 'wctl-pw-'));
    try {
      writeFileSync(join(dir, 'pw'), `${sim.password}\n`, { mode: 0o600 });
      expect(
        parse(['--user', 'root@pam', '--password-file', join(dir, 'pw'), '--api-calls-per-node', '2']),
      ).to.include({
        user: 'root@pam',
        passwordFile: join(dir, 'pw'),
        apiCallsPerNode: 2,
      });
      const c = await connect({ server: sim.url, user: 'root@pam', passwordFile: join(dir, 'pw') }, deps());
      try {
        expect(c.rootLogin).to.equal(true);
        expect(c.describe).to.contain('user root@pam');
        await c.client.version();
        expect(sim.sim.callLog().some((r) => r.path === '/access/ticket' && r.status === 200)).to.equal(true);
      } finally {
        await c.close();
      }
      // Another user may log in but never skiplock; a missing file or user@realm is a clear usage error.
      writeFileSync(join(dir, 'pw2'), 'secret-pw\n');
      const other = await connect(
        { server: sim.url, user: 'ops@pve', passwordFile: join(dir, 'pw2') },
        deps(),
      );
      expect(other.rootLogin).to.equal(false);
      await other.close();
      const noFile = await connect({ server: sim.url, user: 'root@pam' }, deps()).catch((e: unknown) => e);
      expect(noFile).to.be.instanceOf(UsageError);
      expect((noFile as Error).message).to.match(
        /--password-file FILE.*WORKERCTL_PASSWORD_FILE.*pve-password/,
      );
      const badUser = await connect(
        { server: sim.url, user: 'root', passwordFile: join(dir, 'pw2') },
        deps(),
      ).catch((e: unknown) => e);
      expect((badUser as Error).message).to.match(/--user: 'root' is not USER@REALM/);
      const missing = await connect(
        { server: sim.url, user: 'root@pam', passwordFile: join(dir, 'nope') },
        deps(),
      ).catch((e: unknown) => e);
      expect(missing).to.be.instanceOf(ConfigError);
      expect((missing as Error).message).not.to.contain('secret-pw');
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await sim.close();
    }
  });
});
