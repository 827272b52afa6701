import { expect } from 'chai';
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { RunningSimulator } from '../../controller/simulator/index.js';
import { call, fastSimulator } from './helpers.js';

/** A raw request (for what fetch cannot send: chunked bodies, bodies on DELETE, gzip). */
function raw(
  s: RunningSimulator,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer; chunked?: boolean } = {},
): Promise<{
  status: number;
  reason: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}> {
  return new Promise((resolve, reject) => {
    const u = new URL(s.url);
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        method,
        path: `/api2/json${path}`,
        headers: {
          Authorization: `PVEAPIToken=${s.token}`,
          ...(opts.body !== undefined ? { 'Content-Length': String(Buffer.byteLength(opts.body)) } : {}),
          ...(opts.headers ?? {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            reason: res.statusMessage ?? '',
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    req.on('error', reject);
    if (opts.chunked) {
      req.write('cores=2&');
      req.end('memory=1024');
    } else req.end(opts.body);
  });
}

describe('simulator: HTTP plumbing (pve-http-server PVE/APIServer/AnyEvent.pm, pve-manager PVE/HTTPServer.pm)', () => {
  let s: RunningSimulator;
  before(async () => {
    s = await fastSimulator();
  });
  after(() => s.close());

  it('answers 501 for unknown paths and unknown methods, never 404', async () => {
    const a = await call(s, 'GET', '/nodes/pve1/qemu/9000/foo');
    expect(a.status).to.equal(501);
    expect(a.reason).to.equal("Method 'GET /nodes/pve1/qemu/9000/foo' not implemented");
    expect((await call(s, 'PATCH', '/version')).status).to.equal(501);
  });

  it('puts the error text in the reason phrase and in message, and closes the connection', async () => {
    const a = await call(s, 'GET', '/nodes/pve1/qemu/777/config');
    expect(a.status).to.equal(500);
    expect(a.reason).to.equal("Configuration file 'nodes/pve1/qemu-server/777.conf' does not exist");
    expect(a.json.message).to.equal("Configuration file 'nodes/pve1/qemu-server/777.conf' does not exist\n");
    expect(a.json.data).to.equal(null);
    expect(a.headers.get('connection')).to.equal('close');
  });

  it('treats a VM on another node like a missing VM, and an unknown node as a hostname lookup failure', async () => {
    expect((await call(s, 'GET', '/nodes/pve2/qemu/9000/config')).reason).to.equal(
      "Configuration file 'nodes/pve2/qemu-server/9000.conf' does not exist",
    );
    const a = await call(s, 'GET', '/nodes/nosuch/qemu/9000/config');
    expect(a.status).to.equal(500);
    expect(a.reason).to.match(/^hostname lookup 'nosuch' failed/);
  });

  it('refuses a body on DELETE and GET with 501', async () => {
    const a = await raw(s, 'DELETE', '/nodes/pve1/qemu/9000', {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'purge=1',
    });
    expect(a.status).to.equal(501);
    expect(a.reason).to.equal("Unexpected content for method 'DELETE'");
    expect(s.sim.getVm(9000)).to.not.equal(undefined);
  });

  // AnyEvent.pm error(): HTTP-layer errors carry the message as body and no Content-Type
  it('answers HTTP-layer errors with the message as body and no Content-Type (AnyEvent.pm error)', async () => {
    const del = await raw(s, 'DELETE', '/nodes/pve1/qemu/9000', { body: 'purge=1' });
    expect(del.headers['content-type']).to.equal(undefined);
    expect(del.body.toString()).to.equal("Unexpected content for method 'DELETE'");
    const ct = await raw(s, 'PUT', '/nodes/pve1/qemu/9000/config', {
      headers: { 'Content-Type': 'text/plain' },
      body: 'cores=2',
    });
    expect(ct.headers['content-type']).to.equal(undefined);
    const json = await raw(s, 'PUT', '/nodes/pve1/qemu/9000/config', {
      headers: { 'Content-Type': 'application/json' },
      body: '{cores',
    });
    expect(json.status).to.equal(500); // decode_json dies inside handle_api2_request's eval
    expect(json.reason).to.match(/^malformed JSON string/);
    expect(json.headers['content-type']).to.equal(undefined);
    const handler = await call(s, 'GET', '/nodes/pve1/qemu/777/config'); // a handler error is JSON
    expect(handler.headers.get('content-type')).to.equal('application/json;charset=UTF-8');
  });

  // pve-manager PVE/HTTPServer.pm auth_handler runs before find_handler: without credentials every path
  // but the login calls is a 401, known or not
  it('answers 401 to an unauthenticated request for an unknown path, 501 with credentials (auth_handler)', async () => {
    const none = await call(s, 'GET', '/nodes/pve1/qemu/9000/nosuch', { auth: false });
    expect(none.status).to.equal(401);
    expect(none.reason).to.equal('No ticket');
    expect((await call(s, 'GET', '/nodes/pve1/qemu/9000/nosuch')).status).to.equal(501);
  });

  it('refuses chunked bodies and bodies over 512 KiB', async () => {
    const c = await raw(s, 'PUT', '/nodes/pve1/qemu/9000/config', {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      chunked: true,
    });
    expect(c.status).to.equal(501);
    const big = await raw(s, 'PUT', '/nodes/pve1/qemu/9000/config', {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `description=${'x'.repeat(513 * 1024)}`,
    });
    expect(big.status).to.equal(501);
  });

  it('answers 506 for an unsupported Content-Type and parses bodies without one as form data', async () => {
    const a = await raw(s, 'PUT', '/nodes/pve1/qemu/9000/config', {
      headers: { 'Content-Type': 'text/plain' },
      body: 'cores=2',
    });
    expect(a.status).to.equal(506);
    const b = await raw(s, 'PUT', '/nodes/pve1/qemu/9000/config', { body: 'description=no+content+type' });
    expect(b.status).to.equal(200);
    expect(s.sim.getVm(9000)?.description).to.equal('no content type');
  });

  it('accepts JSON bodies with real numbers and booleans', async () => {
    const a = await call(s, 'PUT', '/nodes/pve1/qemu/9000/config', { json: { cores: 3, onboot: true } });
    expect(a.status).to.equal(200);
    expect(s.sim.getVm(9000)?.config.cores).to.equal('3');
    expect(s.sim.getVm(9000)?.config.onboot).to.equal('1');
  });

  it('lets query parameters override body parameters', async () => {
    const a = await call(s, 'PUT', '/nodes/pve1/qemu/9000/config?cores=5', { form: { cores: '2' } });
    expect(a.status).to.equal(200);
    expect(s.sim.getVm(9000)?.config.cores).to.equal('5');
  });

  it('refuses a body parameter that conflicts with the path', async () => {
    // pve-manager PVE/HTTPServer.pm rest_handler: raise_param_exc for the parameter
    const a = await call(s, 'PUT', '/nodes/pve1/qemu/9000/config', { form: { vmid: '9001', cores: '2' } });
    expect(a.status).to.equal(400);
    expect(a.json.errors).to.deep.equal({
      vmid: 'duplicate parameter (already defined in URI) with conflicting values!',
    });
  });

  it('compresses bodies over 1 KiB when asked, and not small ones', async () => {
    const big = await raw(s, 'GET', '/cluster/resources', { headers: { 'Accept-Encoding': 'gzip' } });
    expect(big.headers['content-encoding']).to.equal('gzip');
    expect(JSON.parse(gunzipSync(big.body).toString()).data).to.be.an('array');
    const small = await raw(s, 'GET', '/version', { headers: { 'Accept-Encoding': 'gzip' } });
    expect(small.headers['content-encoding']).to.equal(undefined);
  });

  it('sends no-cache headers and the pve-api-daemon server name', async () => {
    const a = await raw(s, 'GET', '/version');
    expect(a.headers.server).to.equal('pve-api-daemon/3.0');
    expect(a.headers.pragma).to.equal('no-cache');
    expect(a.headers['cache-control']).to.equal('max-age=0');
  });

  it('strips the _dc cache buster', async () => {
    expect((await call(s, 'GET', '/version?_dc=123456')).status).to.equal(200);
  });
});
