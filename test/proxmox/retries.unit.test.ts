/** Wire-level: what is retried (idempotent GETs, PUT config on flock timeout) and what never is. */
import { expect } from 'chai';
import { LockTimeoutError, LockedError, TransientError } from '../../controller/errors.js';
import { createProxmoxClient, type HttpProxmoxClient } from '../../controller/proxmox/http-client.js';
import type { CallInfo } from '../../controller/proxmox/options.js';
import { backoffDelay } from '../../controller/proxmox/retry-policy.js';
import {
  FAST,
  TEST_TOKEN,
  UPID_CLONE,
  fail,
  ok,
  startWireServer,
  type WireServer,
} from '../helpers/wire-server.js';

describe('proxmox client: retries', () => {
  let server: WireServer;
  let client: HttpProxmoxClient;
  let calls: CallInfo[];

  beforeEach(async () => {
    server = await startWireServer((_req, res) => ok(res, null));
    calls = [];
    client = createProxmoxClient({
      url: server.url,
      auth: { kind: 'token', token: TEST_TOKEN },
      ...FAST,
      onCall: (i) => calls.push(i),
    });
  });
  afterEach(async () => {
    client.close();
    await server.close();
  });

  const count = (method: string) => server.requests.filter((r) => r.method === method).length;

  it('retries a GET after 596 and after a reset connection, then succeeds', async () => {
    let n = 0;
    server.handler = (_req, res, raw) => {
      n++;
      if (n === 1) return fail(res, 596, 'Connection timed out');
      if (n === 2) return void raw.socket.destroy();
      ok(res, { version: '9.1.2', release: '9.1' });
    };
    expect(await client.version()).to.deep.equal({ version: '9.1.2', release: '9.1' });
    expect(count('GET')).to.equal(3);
    expect(
      calls.map((c) => [c.attempt, c.status ?? 'network', c.error?.constructor.name ?? 'ok']),
    ).to.deep.equal([
      [0, 596, 'TransientError'],
      [1, 'network', 'TransientError'],
      [2, 200, 'ok'],
    ]);
    expect(calls.every((c) => c.operation === 'version' && c.path === '/version')).to.equal(true);
  });

  it('retries a GET whose reused keep-alive socket the server closed (stale socket)', async () => {
    server.handler = (req, res, raw) => {
      // The server drops a reused socket as the request arrives, like PVE after its idle timeout.
      if (req.socketSeq > 0) return void raw.socket.destroy();
      ok(res, { version: '9.1.2', release: '9.1' });
    };
    await client.version();
    await client.version();
    expect(server.requests.map((r) => r.socketSeq)).to.deep.equal([0, 1, 0]);
  });

  it('gives up on a GET after getRetries and throws the TransientError', async () => {
    server.handler = (_req, res) => fail(res, 596, 'Connection timed out');
    const err = await client.vmResources().catch((e: unknown) => e);
    expect(err).to.be.instanceOf(TransientError);
    expect(count('GET')).to.equal(4); // 1 + default getRetries 3
  });

  it('never re-sends a POST whose fate is unknown (reset, 596, timeout)', async () => {
    for (const mode of ['reset', '596'] as const) {
      server.requests.length = 0;
      server.handler = (_req, res, raw) =>
        mode === 'reset' ? void raw.socket.destroy() : fail(res, 596, 'Connection timed out');
      const err = await client.clone('pve1', 9000, { newid: 150 }).catch((e: unknown) => e);
      expect(err, mode).to.be.instanceOf(TransientError);
      expect(count('POST'), mode).to.equal(1);
    }
  });

  it('never re-sends DELETE or a start', async () => {
    server.handler = (_req, res) => fail(res, 596, 'Connection timed out');
    await client.deleteVm('pve1', 150).catch(() => undefined);
    await client.start('pve1', 150).catch(() => undefined);
    expect(count('DELETE')).to.equal(1);
    expect(count('POST')).to.equal(1);
  });

  it('never re-sends a POST that timed out', async () => {
    const slow = createProxmoxClient({
      url: server.url,
      auth: { kind: 'token', token: TEST_TOKEN },
      requestTimeoutMs: 50,
      ...FAST,
    });
    server.handler = () => undefined;
    try {
      const err = await slow.start('pve1', 150).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(TransientError);
      expect(count('POST')).to.equal(1);
    } finally {
      slow.close();
    }
  });

  it('re-sends PUT config after a flock timeout (the server changed nothing), then succeeds', async () => {
    let n = 0;
    server.handler = (_req, res) =>
      n++ < 2
        ? fail(res, 500, "can't lock file '/var/lock/qemu-server/lock-150.conf' - got timeout")
        : ok(res, null);
    await client.updateConfig('pve1', 150, { set: { cores: 2 } });
    expect(count('PUT')).to.equal(3);
  });

  it('does not re-send PUT config on a transient error or a config lock', async () => {
    server.handler = (_req, res) => fail(res, 596, 'Connection timed out');
    expect(
      await client.updateConfig('pve1', 150, { set: { cores: 2 } }).catch((e: unknown) => e),
    ).to.be.instanceOf(TransientError);
    server.handler = (_req, res) => fail(res, 500, 'VM is locked (clone)');
    expect(
      await client.updateConfig('pve1', 150, { set: { cores: 2 } }).catch((e: unknown) => e),
    ).to.be.instanceOf(LockedError);
    expect(count('PUT')).to.equal(2);
  });

  it('does not re-send an async config POST on a flock timeout', async () => {
    server.handler = (_req, res) =>
      fail(res, 500, "can't lock file '/var/lock/qemu-server/lock-150.conf' - got timeout");
    const err = await client.updateConfigAsync('pve1', 150, { set: { cores: 2 } }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(LockTimeoutError);
    expect(count('POST')).to.equal(1);
  });

  it('backs off exponentially up to the cap', () => {
    const opts = { getRetries: 3, lockRetries: 2, baseDelayMs: 250, maxDelayMs: 1000, jitter: 0 };
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, opts))).to.deep.equal([250, 500, 1000, 1000]);
    const jittered = backoffDelay(1, { ...opts, jitter: 0.2 }, () => 1);
    expect(jittered).to.equal(600);
  });

  it('returns the UPID of a task POST as a TaskRef', async () => {
    server.handler = (_req, res) => ok(res, UPID_CLONE);
    expect(await client.clone('pve1', 9000, { newid: 150 })).to.deep.equal({
      upid: UPID_CLONE,
      node: 'pve1',
    });
  });
});
