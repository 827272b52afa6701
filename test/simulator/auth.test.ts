import { expect } from 'chai';
import type { RunningSimulator } from '../../controller/simulator/index.js';
import { call, fastSimulator } from './helpers.js';

describe('simulator: authentication (pve-manager PVE/HTTPServer.pm auth_handler, pve-access-control)', () => {
  let s: RunningSimulator;
  const DELAY = 60;
  before(async () => {
    s = await fastSimulator({
      authFailureDelayMs: DELAY,
      token: 'ops@pve!ctl=11111111-2222-3333-4444-555555555555',
      users: { 'root@pam': 'pw-root' },
    });
  });
  after(() => s.close());

  it('accepts the configured token with = or a space as separator, and needs no CSRF for writes', async () => {
    expect(
      (await call(s, 'GET', '/version', { headers: { Authorization: `PVEAPIToken=${s.token}` } })).status,
    ).to.equal(200);
    expect(
      (await call(s, 'GET', '/version', { headers: { Authorization: `PVEAPIToken ${s.token}` } })).status,
    ).to.equal(200);
    const w = await call(s, 'PUT', '/nodes/pve1/qemu/9000/config', { form: { description: 'token write' } });
    expect(w.status).to.equal(200);
    expect(s.sim.callLog().at(-1)?.user).to.equal('ops@pve!ctl');
  });

  it('answers 401 "No ticket" without credentials and "Authentication failed!" for a wrong secret, after the delay, with an empty body', async () => {
    const t0 = Date.now();
    const none = await call(s, 'GET', '/version', { auth: false });
    expect(Date.now() - t0).to.be.at.least(DELAY - 5);
    expect(none.status).to.equal(401);
    expect(none.reason).to.equal('No ticket');
    expect(none.body).to.equal('');
    const wrong = await call(s, 'GET', '/version', {
      headers: { Authorization: 'PVEAPIToken=ops@pve!ctl=nope' },
    });
    expect(wrong.reason).to.equal('Authentication failed!');
    expect(wrong.headers.get('connection')).to.equal('close');
  });

  it('issues tickets and CSRF tokens; non-GET with a ticket needs the CSRF header', async () => {
    const login = await call(s, 'POST', '/access/ticket', {
      auth: false,
      form: { username: 'root', password: 'pw-root', realm: 'pam' },
    });
    expect(login.status).to.equal(200);
    const d = login.json.data as { ticket: string; CSRFPreventionToken: string; username: string };
    expect(d.username).to.equal('root@pam');
    expect(d.ticket).to.match(/^PVE:root@pam:[0-9A-F]{8}::.+$/);
    expect(d.CSRFPreventionToken).to.match(/^[0-9A-F]{8}:.+$/);
    const cookie = `PVEAuthCookie=${encodeURIComponent(d.ticket)}`;
    expect((await call(s, 'GET', '/cluster/nextid', { headers: { Cookie: cookie } })).status).to.equal(200);
    const noCsrf = await call(s, 'PUT', '/nodes/pve1/qemu/9000/config', {
      headers: { Cookie: cookie },
      form: { description: 'x' },
    });
    expect(noCsrf.status).to.equal(401);
    expect(noCsrf.reason).to.equal('Permission denied - invalid csrf token');
    const ok = await call(s, 'PUT', '/nodes/pve1/qemu/9000/config', {
      headers: { Cookie: cookie, CSRFPreventionToken: d.CSRFPreventionToken },
      form: { description: 'ticket write' },
    });
    expect(ok.status).to.equal(200);
    const renewed = await call(s, 'POST', '/access/ticket', {
      auth: false,
      form: { username: 'root@pam', password: d.ticket },
    });
    expect(renewed.status).to.equal(200);
  });

  it('answers a wrong login with a delayed 401 "authentication failure"', async () => {
    const t0 = Date.now();
    const bad = await call(s, 'POST', '/access/ticket', {
      auth: false,
      form: { username: 'root@pam', password: 'wrong' },
    });
    expect(bad.status).to.equal(401);
    expect(bad.reason).to.equal('authentication failure');
    expect(Date.now() - t0).to.be.at.least(DELAY - 5);
  });

  it('never logs the password or ticket in the call log', async () => {
    await call(s, 'POST', '/access/ticket', {
      auth: false,
      form: { username: 'root@pam', password: 'pw-root' },
    });
    expect(JSON.stringify(s.sim.callLog())).to.not.contain('pw-root');
  });
});
