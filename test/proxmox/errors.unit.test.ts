/** Wire-level: every PVE error form maps to its typed error. */
import { expect } from 'chai';
import {
  AgentUnavailableError,
  AlreadyExistsError,
  ApiValidationError,
  AuthError,
  ChecksumMismatchError,
  LockTimeoutError,
  LockedError,
  NotFoundError,
  PermissionError,
  ProxmoxError,
  TransientError,
  UnknownNodeError,
} from '../../controller/errors.js';
import { mapErrorResponse, mapNetworkError } from '../../controller/proxmox/error-mapping.js';
import { createProxmoxClient, type HttpProxmoxClient } from '../../controller/proxmox/http-client.js';
import { FAST, TEST_TOKEN, fail, ok, startWireServer, type WireServer } from '../helpers/wire-server.js';

type ErrorClass = abstract new (...args: never[]) => Error;

describe('proxmox client: error mapping', () => {
  const cases: {
    name: string;
    status: number;
    reason: string;
    body?: Record<string, unknown> | string;
    want: ErrorClass;
    text: RegExp;
  }[] = [
    {
      name: '500 does-not-exist in the reason phrase only (older PVE)',
      status: 500,
      reason: "Configuration file 'nodes/pve1/qemu-server/101.conf' does not exist",
      want: NotFoundError,
      text: /does not exist/,
    },
    {
      name: '500 with the message field (PVE >= 8.3) wins over a truncated reason phrase',
      status: 500,
      reason: 'Internal Server Error',
      body: { data: null, message: "Configuration file 'nodes/pve1/qemu-server/101.conf' does not exist\n" },
      want: NotFoundError,
      text: /101\.conf' does not exist/,
    },
    { name: '404', status: 404, reason: 'Not Found', want: NotFoundError, text: /404 Not Found/ },
    {
      name: 'config lock',
      status: 500,
      reason: 'VM is locked (clone)',
      want: LockedError,
      text: /VM is locked \(clone\)/,
    },
    {
      name: 'flock timeout',
      status: 500,
      reason: "can't lock file '/var/lock/qemu-server/lock-101.conf' - got timeout",
      want: LockTimeoutError,
      text: /got timeout/,
    },
    {
      name: 'stale digest',
      status: 500,
      reason: 'checksum mismatch (file change by other user?)',
      want: ChecksumMismatchError,
      text: /checksum mismatch/,
    },
    {
      name: 'create with a taken vmid',
      status: 500,
      reason: "unable to create VM 101 - VM 101 already exists on node 'pve2'",
      want: AlreadyExistsError,
      text: /already exists/,
    },
    {
      name: 'nextid?vmid= taken (400 errors.vmid)',
      status: 400,
      reason: 'Parameter verification failed.',
      body: { data: null, errors: { vmid: 'VM 101 already exists' } },
      want: AlreadyExistsError,
      text: /vmid: VM 101 already exists/,
    },
    {
      name: 'parameter verification with the errors map',
      status: 400,
      reason: 'Parameter verification failed.',
      body: { data: null, errors: { sshkeys: 'invalid format - invalid urlencoded string: a b' } },
      want: ApiValidationError,
      text: /Parameter verification failed\. \(sshkeys: invalid format/,
    },
    {
      name: 'unknown node (not a missing VM)',
      status: 500,
      reason: "hostname lookup 'nosuch' failed - failed to get address info for: nosuch",
      want: UnknownNodeError,
      text: /hostname lookup/,
    },
    { name: '401', status: 401, reason: 'No ticket', want: AuthError, text: /401 No ticket/ },
    {
      name: '403',
      status: 403,
      reason: 'Permission check failed (/vms/101, VM.PowerMgmt)',
      want: PermissionError,
      text: /Permission check failed/,
    },
    {
      name: '403 for a missing pool stays a permission error',
      status: 403,
      reason: "Permission check failed (pool 'x' does not exist)",
      want: PermissionError,
      text: /pool 'x'/,
    },
    {
      name: '501 unknown path',
      status: 501,
      reason: "Method 'GET /nodes/pve1/qemu/101/foo' not implemented",
      want: ApiValidationError,
      text: /not implemented/,
    },
    {
      name: '501 with a plain-text body',
      status: 501,
      reason: 'Not Implemented',
      body: "Unexpected content for method 'DELETE'\n",
      want: ApiValidationError,
      text: /Unexpected content for method 'DELETE'/,
    },
    {
      name: '506',
      status: 506,
      reason: "upload 'Content-Type 'x' not implemented",
      want: ApiValidationError,
      text: /506/,
    },
    {
      name: '596',
      status: 596,
      reason: 'Connection timed out',
      want: TransientError,
      text: /596 Connection timed out/,
    },
    { name: '599', status: 599, reason: 'Too many redirections', want: TransientError, text: /599/ },
    {
      name: 'agent not running',
      status: 500,
      reason: 'QEMU guest agent is not running',
      want: AgentUnavailableError,
      text: /agent is not running/,
    },
    {
      name: 'other runtime errors stay plain ProxmoxError',
      status: 500,
      reason: 'VM 101 is running - destroy failed',
      want: ProxmoxError,
      text: /destroy failed/,
    },
  ];

  for (const tc of cases) {
    it(`maps ${tc.name}`, () => {
      const body =
        tc.body === undefined
          ? '{"data":null}'
          : typeof tc.body === 'string'
            ? tc.body
            : JSON.stringify(tc.body);
      const err = mapErrorResponse({
        method: 'GET',
        path: '/x',
        status: tc.status,
        statusMessage: tc.reason,
        body,
      });
      expect(err).to.be.instanceOf(tc.want);
      if (tc.want === ProxmoxError) expect(err.constructor).to.equal(ProxmoxError);
      expect(err.message).to.match(tc.text);
      expect(err.status).to.equal(tc.status);
    });
  }

  it('maps network failures to TransientError and keeps request headers out of the cause', () => {
    const gotLike = Object.assign(new Error('socket hang up'), {
      code: 'ECONNRESET',
      options: { headers: { authorization: `PVEAPIToken=${TEST_TOKEN}` } },
    });
    const err = mapNetworkError(gotLike, 'POST', '/nodes/pve1/qemu/9000/clone');
    expect(err).to.be.instanceOf(TransientError);
    expect(err.message).to.equal(
      'proxmox POST /nodes/pve1/qemu/9000/clone: network connection lost (ECONNRESET)',
    );
    expect(JSON.stringify(err.cause, Object.getOwnPropertyNames(err.cause as object))).not.to.contain(
      'PVEAPIToken',
    );
  });

  describe('over the wire', () => {
    let server: WireServer;
    let client: HttpProxmoxClient;
    beforeEach(async () => {
      server = await startWireServer((_req, res) => ok(res, null));
      client = createProxmoxClient({
        url: server.url,
        auth: { kind: 'token', token: TEST_TOKEN },
        ...FAST,
        retry: { ...FAST.retry, getRetries: 0, lockRetries: 0 },
      });
    });
    afterEach(async () => {
      client.close();
      await server.close();
    });

    it('reads the reason phrase when the body is {"data":null}', async () => {
      server.handler = (_req, res) =>
        fail(res, 500, "can't lock file '/var/lock/qemu-server/lock-101.conf' - got timeout");
      const err = await client.updateConfig('pve1', 101, { set: { cores: 2 } }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(LockTimeoutError);
      expect((err as LockTimeoutError).path).to.equal('/nodes/pve1/qemu/101/config');
      expect((err as LockTimeoutError).method).to.equal('PUT');
    });

    it('surfaces the errors object', async () => {
      server.handler = (_req, res) =>
        fail(res, 400, 'Parameter verification failed.', {
          data: null,
          errors: { upid: 'no such task' },
          message: 'Parameter verification failed.\n',
        });
      const err = await client
        .taskStatus({ upid: 'UPID:pve1:1:2:3:qmstart:1:u@pam:', node: 'pve1' })
        .catch((e: unknown) => e);
      expect(err).to.be.instanceOf(NotFoundError);
      expect((err as NotFoundError).errors).to.deep.equal({ upid: 'no such task' });
    });

    it('maps agent 500s on agent calls', async () => {
      server.handler = (_req, res) => fail(res, 500, 'VM 101 is not running');
      const err = await client.agentPing('pve1', 101).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(AgentUnavailableError);
      expect((err as AgentUnavailableError).reason).to.equal('vm-not-running');
    });

    it('maps a reset connection to TransientError', async () => {
      server.handler = (_req, _res, raw) => {
        raw.socket.destroy();
      };
      const err = await client.version().catch((e: unknown) => e);
      expect(err).to.be.instanceOf(TransientError);
    });

    it('maps a request timeout to TransientError', async () => {
      const slow = createProxmoxClient({
        url: server.url,
        auth: { kind: 'token', token: TEST_TOKEN },
        requestTimeoutMs: 50,
        retry: { getRetries: 0 },
      });
      server.handler = () => undefined; // never answers
      try {
        const err = await slow.version().catch((e: unknown) => e);
        expect(err).to.be.instanceOf(TransientError);
        expect((err as Error).message).to.match(/no answer after 50 ms/);
      } finally {
        slow.close();
      }
    });

    it('rejects a 200 without the {data} envelope', async () => {
      server.handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html>proxy login</html>');
      };
      const err = await client.version().catch((e: unknown) => e);
      expect(err).to.be.instanceOf(ProxmoxError);
      expect((err as Error).message).to.match(/not a \{"data": \.\.\.\} json envelope/);
    });

    it('opens a fresh socket after the server closed the connection on an error', async () => {
      let n = 0;
      server.handler = (_req, res) =>
        n++ === 1 ? fail(res, 500, 'VM is locked (backup)') : ok(res, { version: '9.1.2', release: '9.1' });
      await client.version();
      await client.version().catch(() => undefined);
      await client.version();
      const [a, b, c] = server.requests;
      expect(a!.remotePort).to.equal(b!.remotePort); // keep-alive reused the socket
      expect(c!.remotePort).not.to.equal(b!.remotePort); // the error closed it
      expect(c!.socketSeq).to.equal(0);
    });
  });
});
