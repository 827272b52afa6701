/** TLS: trust by CA file, by pinned SHA-256 fingerprint (accept and reject), or insecure. */
import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { TlsError } from '../../controller/errors.js';
import { createProxmoxClient } from '../../controller/proxmox/http-client.js';
import { normaliseFingerprint } from '../../controller/proxmox/tls.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { captureLogger } from '../helpers/capture-log.js';
import { TEST_TOKEN, ok, startWireServer, type WireServer } from '../helpers/wire-server.js';

describe('proxmox client: tls', function () {
  this.timeout(30_000);
  let server: WireServer;
  let cert: string;
  let fingerprint: string;
  let dir: { path: string; remove: () => void };

  before(async () => {
    const pems = await generate([{ name: 'commonName', value: 'pve1' }], {
      keyType: 'ec',
      curve: 'P-256',
      extensions: [
        { name: 'basicConstraints', cA: true },
        {
          name: 'subjectAltName',
          altNames: [
            { type: 7, ip: '127.0.0.1' },
            { type: 2, value: 'localhost' },
          ],
        },
      ],
    });
    cert = pems.cert;
    fingerprint = new X509Certificate(cert).fingerprint256;
    server = await startWireServer((_req, res) => ok(res, { version: '9.1.2', release: '9.1' }), {
      key: pems.private,
      cert: pems.cert,
    });
    dir = makeTempDir();
  });
  after(async () => {
    await server.close();
    dir.remove();
  });

  async function versionWith(tls: Parameters<typeof createProxmoxClient>[0]['tls'], logs?: string[]) {
    const cap = captureLogger();
    const client = createProxmoxClient({
      url: server.url,
      auth: { kind: 'token', token: TEST_TOKEN },
      tls,
      logger: cap.logger,
      retry: { getRetries: 0 },
    });
    try {
      return await client.version();
    } finally {
      logs?.push(...cap.lines);
      client.close();
    }
  }

  it('refuses an unknown self-signed certificate by default', async () => {
    const before = server.requests.length;
    const err = await versionWith(undefined).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(TlsError);
    expect(server.requests.length).to.equal(before);
  });

  it('trusts the certificate through a CA file', async () => {
    const caFile = join(dir.path, 'pve-root-ca.pem');
    writeFileSync(caFile, cert);
    expect(await versionWith({ caFile })).to.deep.equal({ version: '9.1.2', release: '9.1' });
  });

  it('accepts the pinned fingerprint in any case', async () => {
    expect(await versionWith({ fingerprint: fingerprint.toLowerCase() })).to.include({ version: '9.1.2' });
    expect(await versionWith({ fingerprint })).to.include({ version: '9.1.2' });
  });

  it('refuses a different fingerprint before sending any request (the token never leaves)', async () => {
    const before = server.requests.length;
    const wrong = fingerprint.replace(/^../, fingerprint.startsWith('00') ? '11' : '00');
    const err = await versionWith({ fingerprint: wrong }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(TlsError);
    expect((err as Error).message).to.match(/does not match the pinned/);
    expect(server.requests.length).to.equal(before);
  });

  it('connects with insecure and logs a warning', async () => {
    const logs: string[] = [];
    expect(await versionWith({ insecure: true }, logs)).to.include({ version: '9.1.2' });
    expect(logs.join('')).to.contain('tls verification disabled');
  });

  it('validates fingerprint syntax', () => {
    expect(normaliseFingerprint('ab'.repeat(32))).to.equal(Array(32).fill('AB').join(':'));
    expect(() => normaliseFingerprint('AB:CD')).to.throw(/invalid certificate fingerprint/);
  });
});
