import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { packageRoot } from '../../controller/paths.js';

describe('simulator: workerctl simulator command', () => {
  it('prints URL, token and fingerprint, serves the API, and stops cleanly on SIGTERM', async () => {
    const t0 = performance.now();
    const child = spawn(
      process.execPath,
      [
        join(packageRoot, 'dist', 'controller', 'main.js'),
        'simulator',
        '--port',
        '0',
        '--tls',
        '--token',
        'root@pam!ci=abc-123',
        '-o',
        'json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const info = await new Promise<{ url: string; token: string; fingerprint: string }>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('\n'))
          resolve(JSON.parse(out.split('\n')[0]) as { url: string; token: string; fingerprint: string });
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}`)));
    });
    const startedMs = performance.now() - t0;
    expect(info.token).to.equal('root@pam!ci=abc-123');
    expect(info.url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(info.fingerprint).to.match(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(startedMs).to.be.below(3000); // includes Node start-up; the simulator itself starts in ~30 ms
    const u = new URL(info.url);
    const served = await new Promise<{ status: number; fp: string }>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: u.hostname,
          port: u.port,
          path: '/api2/json/version',
          rejectUnauthorized: false,
          headers: { Authorization: `PVEAPIToken=${info.token}` },
        },
        (res) => {
          const fp = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, fp }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(served).to.deep.equal({ status: 200, fp: info.fingerprint });
    const code = await new Promise<number | null>((resolve) => {
      child.on('exit', (c) => resolve(c));
      child.kill('SIGTERM');
    });
    expect(code).to.equal(0);
  });

  it('refuses a bad --latency with a usage error', async () => {
    const child = spawn(
      process.execPath,
      [join(packageRoot, 'dist', 'controller', 'main.js'), 'simulator', '--latency', 'slow'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).to.equal(1);
    expect(err).to.contain('--latency');
  });
});
