import { expect } from 'chai';
import { request } from 'node:https';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { RunningSimulator } from '../../controller/simulator/index.js';
import { fastSimulator } from './helpers.js';

describe('simulator: TLS', () => {
  let s: RunningSimulator;
  before(async () => {
    s = await fastSimulator({ tls: true });
  });
  after(() => s.close());

  it('serves HTTPS with a self-signed certificate whose SHA-256 fingerprint is reported', async () => {
    expect(s.url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(s.fingerprint).to.match(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const u = new URL(s.url);
    const { status, cert } = await new Promise<{ status: number; cert: PeerCertificate }>(
      (resolve, reject) => {
        const req = request(
          {
            host: u.hostname,
            port: u.port,
            path: '/api2/json/version',
            ca: s.caPem,
            headers: { Authorization: `PVEAPIToken=${s.token}` },
          },
          (res) => {
            const cert = (res.socket as TLSSocket).getPeerCertificate();
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, cert }));
          },
        );
        req.on('error', reject);
        req.end();
      },
    );
    expect(status).to.equal(200);
    expect(cert.fingerprint256).to.equal(s.fingerprint);
  });

  it('reports the fingerprint as ssl_fingerprint of the nodes', async () => {
    const u = new URL(s.url);
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path: '/api2/json/nodes',
          ca: s.caPem,
          headers: { Authorization: `PVEAPIToken=${s.token}` },
        },
        (res) => {
          let b = '';
          res.on('data', (c: Buffer) => (b += c.toString()));
          res.on('end', () => resolve(b));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(
      (JSON.parse(body) as { data: Array<{ ssl_fingerprint: string }> }).data[0].ssl_fingerprint,
    ).to.equal(s.fingerprint);
  });
});
