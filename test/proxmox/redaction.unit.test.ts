/** Secrets (token, ticket, password) never reach a thrown error or a log line. */
import { expect } from 'chai';
import { createProxmoxClient } from '../../controller/proxmox/http-client.js';
import { captureLogger } from '../helpers/capture-log.js';
import { FAST, TEST_SECRET, TEST_TOKEN, fail, ok, startWireServer } from '../helpers/wire-server.js';

const PASSWORD = 'Pa55-w0rd-never-logged';
const TICKET_SIG = 'c2VjcmV0dGlja2V0c2lnbmF0dXJl';

function dump(err: unknown): string {
  const seen = new Set<unknown>();
  const walk = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return v;
    seen.add(v);
    const out: Record<string, unknown> = {};
    for (const k of Object.getOwnPropertyNames(v)) out[k] = walk((v as Record<string, unknown>)[k]);
    return out;
  };
  return JSON.stringify(walk(err)) + String((err as Error)?.stack ?? '');
}

describe('proxmox client: redaction', () => {
  it('keeps the token out of every error and log line, whatever fails', async () => {
    let n = 0;
    const server = await startWireServer((req, res, raw) => {
      n++;
      if (n === 1) {
        return fail(res, 500, `echo ${String(req.headers.authorization)}`, {
          data: null,
          errors: { auth: `got ${String(req.headers.authorization)}` },
        });
      }
      if (n === 2) return void raw.socket.destroy();
      if (n === 3) return fail(res, 401, 'Authentication failed!');
      ok(res, { version: '9.1.2', release: '9.1' });
    });
    const { logger, lines } = captureLogger('debug');
    const client = createProxmoxClient({
      url: server.url,
      auth: { kind: 'token', token: TEST_TOKEN },
      logger,
      ...FAST,
      retry: { ...FAST.retry, getRetries: 0 },
    });
    const errors: unknown[] = [];
    try {
      for (let i = 0; i < 3; i++) errors.push(await client.start('pve1', 100).catch((e: unknown) => e));
      await client.version();
    } finally {
      client.close();
      await server.close();
    }
    expect(errors).to.have.length(3);
    expect(lines.length).to.be.greaterThan(3);
    for (const e of errors) expect(dump(e)).not.to.contain(TEST_SECRET);
    expect(lines.join('\n')).not.to.contain(TEST_SECRET);
    expect(dump(errors[0])).to.contain('***'); // the echoed header was masked, not dropped
  });

  it('keeps the password and the ticket out of errors and logs', async () => {
    const server = await startWireServer((req, res) => {
      if (req.path === '/access/ticket') {
        return ok(res, {
          ticket: `PVE:root@pam:679A423B::${TICKET_SIG}`,
          CSRFPreventionToken: '679A423B:aG1hYw',
          username: 'root@pam',
        });
      }
      fail(res, 500, `bad cookie ${String(req.headers.cookie)}`);
    });
    const { logger, lines } = captureLogger('debug');
    const client = createProxmoxClient({
      url: server.url,
      auth: { kind: 'ticket', username: 'root@pam', password: PASSWORD },
      logger,
      ...FAST,
    });
    try {
      const err = await client.start('pve1', 100).catch((e: unknown) => e);
      expect(dump(err)).not.to.contain(TICKET_SIG);
      expect(dump(err)).not.to.contain(PASSWORD);
    } finally {
      client.close();
      await server.close();
    }
    expect(lines.join('\n')).not.to.contain(TICKET_SIG);
    expect(lines.join('\n')).not.to.contain(PASSWORD);
  });
});
