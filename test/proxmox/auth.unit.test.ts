/** Wire-level: token header, ticket login with cookie and CSRF on non-GET, renewal after a 401. */
import { expect } from 'chai';
import { AuthError } from '../../controller/errors.js';
import { createProxmoxClient } from '../../controller/proxmox/http-client.js';
import { FakeClock } from '../helpers/clock.js';
import { FAST, TEST_TOKEN, fail, ok, startWireServer, type WireServer } from '../helpers/wire-server.js';

const TICKET = 'PVE:root@pam:679A423B::c2lnbmF0dXJlK3dpdGgvc2xhc2g9';
const CSRF = '679A423B:aG1hYw';

describe('proxmox client: auth', () => {
  let server: WireServer;
  afterEach(async () => server.close());

  it('sends the API token header on every call, with no CSRF token', async () => {
    server = await startWireServer((_req, res) => ok(res, null));
    const client = createProxmoxClient({
      url: server.url,
      auth: { kind: 'token', token: `PVEAPIToken=${TEST_TOKEN}` },
    });
    try {
      await client.getConfig('pve1', 100).catch(() => undefined);
      await client.start('pve1', 100).catch(() => undefined);
    } finally {
      client.close();
    }
    for (const r of server.requests) {
      expect(r.headers.authorization).to.equal(`PVEAPIToken=${TEST_TOKEN}`);
      expect(r.headers.csrfpreventiontoken).to.equal(undefined);
      expect(r.headers.cookie).to.equal(undefined);
    }
  });

  it('logs in with a ticket and sends the CSRF token only on non-GET calls', async () => {
    server = await startWireServer((req, res) => {
      if (req.path === '/access/ticket')
        return ok(res, { ticket: TICKET, CSRFPreventionToken: CSRF, username: 'root@pam' });
      if (req.method === 'GET') return ok(res, { version: '9.1.2', release: '9.1' });
      ok(res, 'UPID:pve1:00001234:00006AE8:679A423C:qmstart:100:root@pam:');
    });
    const client = createProxmoxClient({
      url: server.url,
      auth: { kind: 'ticket', username: 'root@pam', password: 'hunter2 & more' },
    });
    try {
      await client.version();
      await client.start('pve1', 100);
      await client.version();
    } finally {
      client.close();
    }
    const [login, get, post, get2] = server.requests;
    expect(login).to.include({
      method: 'POST',
      path: '/access/ticket',
      body: 'username=root%40pam&password=hunter2+%26+more',
    });
    expect(login!.headers.cookie).to.equal(undefined);
    expect(get!.headers.cookie).to.equal(`PVEAuthCookie=${TICKET}`);
    expect(get!.headers.csrfpreventiontoken).to.equal(undefined);
    expect(post!.headers.cookie).to.equal(`PVEAuthCookie=${TICKET}`);
    expect(post!.headers.csrfpreventiontoken).to.equal(CSRF);
    expect(get2!.headers.csrfpreventiontoken).to.equal(undefined);
    expect(server.requests.filter((r) => r.path === '/access/ticket')).to.have.length(1);
  });

  it('renews the ticket after an hour and after a 401, re-sending the refused call once', async () => {
    let logins = 0;
    let refuseNext = false;
    server = await startWireServer((req, res) => {
      if (req.path === '/access/ticket') {
        logins++;
        return ok(res, { ticket: `${TICKET}${logins}`, CSRFPreventionToken: CSRF, username: 'root@pam' });
      }
      if (refuseNext) {
        refuseNext = false;
        return fail(res, 401, 'No ticket');
      }
      ok(res, 'UPID:pve1:00001234:00006AE8:679A423C:qmstart:100:root@pam:');
    });
    const clock = new FakeClock();
    const client = createProxmoxClient({
      url: server.url,
      auth: { kind: 'ticket', username: 'root@pam', password: 'pw' },
      clock,
      ...FAST,
    });
    try {
      await client.start('pve1', 100);
      await clock.advance(3601_000);
      await client.start('pve1', 100);
      expect(logins).to.equal(2);
      refuseNext = true;
      await client.start('pve1', 100);
      expect(logins).to.equal(3);
      // one POST per call, plus exactly one re-send of the refused (never executed) call
      expect(server.requests.filter((r) => r.path.endsWith('/status/start'))).to.have.length(4);
    } finally {
      client.close();
    }
  });

  it('fails a wrong login with AuthError that names the user but not the password', async () => {
    server = await startWireServer((_req, res) => fail(res, 401, 'authentication failure'));
    const client = createProxmoxClient({
      url: server.url,
      auth: { kind: 'ticket', username: 'root@pam', password: 'S3cr3t-Passw0rd' },
      ...FAST,
    });
    try {
      const err = await client.version().catch((e: unknown) => e);
      expect(err).to.be.instanceOf(AuthError);
      expect((err as Error).message).to.match(/401 authentication failure/);
      expect(JSON.stringify(err, Object.getOwnPropertyNames(err as object))).not.to.contain('S3cr3t');
      expect(server.requests).to.have.length(1); // a refused login is not repeated
    } finally {
      client.close();
    }
  });

  it('maps a refused token to AuthError without retrying', async () => {
    server = await startWireServer((_req, res) => fail(res, 401, 'Authentication failed!'));
    const client = createProxmoxClient({
      url: server.url,
      auth: { kind: 'token', token: TEST_TOKEN },
      ...FAST,
    });
    try {
      expect(await client.version().catch((e: unknown) => e)).to.be.instanceOf(AuthError);
      expect(server.requests).to.have.length(1);
    } finally {
      client.close();
    }
  });
});
