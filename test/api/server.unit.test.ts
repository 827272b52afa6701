/**
 * The HTTP API on its own: routing, bearer-token auth, JSON errors that name the parameter,
 * readiness, Prometheus metrics and server-sent events. Lifecycle fakes stand behind it; the
 * simulator-backed paths are in test/lifecycle/lifecycle-e2e.test.ts.
 */
import { expect } from 'chai';
import { request } from 'node:http';
import { connect } from 'node:net';
import { bearerToken, tokensEqual } from '../../controller/api/auth.js';
import { ControllerMetrics } from '../../controller/api/metrics.js';
import { isLoopbackHost, parseListen, startApiServer, type ApiServer } from '../../controller/api/server.js';
import { ConfigError } from '../../controller/errors.js';
import { EventBus, StatusWatcher } from '../../controller/lifecycle/events.js';
import { SessionManager } from '../../controller/lifecycle/sessions.js';
import { testWorker } from '../../controller/lifecycle/bring-up.js';
import { silentLogger } from '../../controller/log.js';
import { harness, record, type Harness } from '../helpers/lifecycle-fakes.js';

const TOKEN = 'test-token-0123456789';

describe('controller HTTP API', () => {
  let h: Harness;
  let api: ApiServer;
  let ready: boolean;
  let bus: EventBus;
  let watcher: StatusWatcher;
  let metrics: ControllerMetrics;

  beforeEach(async () => {
    h = await harness([record('w1'), record('w2', { host: 'pve2', enabled: false })]);
    bus = new EventBus();
    watcher = new StatusWatcher(h.store, bus);
    watcher.start();
    const store = h.store;
    const deps = { ...h.deps, store };
    const sessions = new SessionManager({ ...deps, events: bus });
    metrics = new ControllerMetrics({ processMetrics: false });
    metrics.bindStore(h.store);
    ready = false;
    api = await startApiServer(
      {
        store,
        events: bus,
        metrics,
        logger: silentLogger(),
        clock: h.clock,
        isReady: () => ready,
        sessions,
        test: (name) => testWorker(deps, name),
        token: TOKEN,
        sseKeepAliveMs: 50,
      },
      '127.0.0.1:0',
    );
  });

  afterEach(async () => {
    await api.close();
  });

  async function call(method: string, path: string, body?: unknown, token: string | null = TOKEN) {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(api.url + path, {
      method,
      headers,
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      json = { text };
    }
    return { status: res.status, json, text, headers: res.headers };
  }

  it('listens on loopback by default and parses --listen', () => {
    expect(parseListen('127.0.0.1:8080')).to.deep.equal({ host: '127.0.0.1', port: 8080 });
    expect(parseListen(':9000')).to.deep.equal({ host: '127.0.0.1', port: 9000 });
    expect(parseListen('[::1]:8080')).to.deep.equal({ host: '::1', port: 8080 });
    expect(() => parseListen('localhost')).to.throw(/--listen: 'localhost' is not HOST:PORT/);
    expect(api.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('healthz answers; readyz is 503 until the first full observation', async () => {
    expect((await call('GET', '/healthz')).json).to.deep.equal({ status: 'ok' });
    const before = await call('GET', '/readyz');
    expect(before.status).to.equal(503);
    expect(before.json.error).to.deep.equal({
      code: 'not_ready',
      message: 'waiting for the first full observation of the cluster',
    });
    ready = true;
    expect((await call('GET', '/readyz')).status).to.equal(200);
  });

  it('every request that changes something needs the bearer token; reads do not', async () => {
    expect((await call('GET', '/v1/workers', undefined, null)).status).to.equal(200);
    const none = await call('POST', '/v1/sessions', { host: 'pve1' }, null);
    expect(none.status).to.equal(401);
    expect(none.headers.get('www-authenticate')).to.equal('Bearer realm="workerctl"');
    expect((none.json.error as { code: string }).code).to.equal('unauthorized');
    const wrong = await call('DELETE', '/v1/sessions/s-1', undefined, 'nope-nope-nope');
    expect(wrong.status).to.equal(401);
    expect((wrong.json.error as { message: string }).message).to.equal('the API token does not match');
    expect((await call('POST', '/v1/workers/w1/test', undefined, null)).status).to.equal(401);
    expect(h.store.listSessions()).to.deep.equal([]);
    expect(tokensEqual('abc', 'abc')).to.equal(true);
    expect(tokensEqual('abc', 'abd')).to.equal(false);
    expect(bearerToken('Bearer xyz')).to.equal('xyz');
    expect(bearerToken('Basic xyz')).to.equal(undefined);
  });

  it('errors are JSON with a clear message naming the parameter', async () => {
    const cases: [string, string, unknown, number, string, string | undefined][] = [
      ['GET', '/v1/nothing', undefined, 404, 'not_found', undefined],
      ['PUT', '/v1/workers', undefined, 405, 'method_not_allowed', undefined],
      ['GET', '/v1/workers/zz', undefined, 404, 'worker_not_found', 'name'],
      ['POST', '/v1/sessions', '{not json', 400, 'invalid_json', undefined],
      ['POST', '/v1/sessions', '[1]', 400, 'invalid_json', undefined],
      ['POST', '/v1/sessions', {}, 400, 'invalid_parameter', 'host'],
      ['POST', '/v1/sessions', { host: 'pve1', tasks: 1.5 }, 400, 'invalid_parameter', 'tasks'],
      ['POST', '/v1/sessions', { host: 'pve1', tasks: 0 }, 400, 'invalid_parameter', 'tasks'],
      ['POST', '/v1/sessions', { host: 'pve1', kind: 'copy' }, 400, 'invalid_parameter', 'kind'],
      ['POST', '/v1/sessions', { host: 'pve1', lease: '10 minutes' }, 400, 'invalid_parameter', 'lease'],
      ['POST', '/v1/sessions', { host: 'pve1', wait: -1 }, 400, 'invalid_parameter', 'wait'],
      ['GET', '/v1/sessions/s-unknown', undefined, 404, 'session_not_found', undefined],
      ['DELETE', '/v1/sessions/s-unknown', undefined, 404, 'session_not_found', undefined],
      ['POST', '/v1/sessions/s-unknown/renew', {}, 404, 'session_not_found', undefined],
      ['POST', '/v1/workers/zz/test', undefined, 404, 'worker_not_found', 'name'],
    ];
    for (const [method, path, body, status, code, param] of cases) {
      const res = await call(method, path, body);
      const what = `${method} ${path} ${JSON.stringify(body)}: ${res.text}`;
      expect(res.status, what).to.equal(status);
      expect(res.headers.get('content-type'), what).to.match(/^application\/json/);
      const err = res.json.error as { code: string; message: string; param?: string };
      expect(err.code, what).to.equal(code);
      expect(err.message, what).to.be.a('string').and.not.equal('');
      expect(err.param, what).to.equal(param);
    }
    expect(((await call('PUT', '/v1/workers')).headers.get('allow') ?? '').split(', ')).to.deep.equal([
      'GET',
    ]);
  });

  it('sessions: start, get, list, renew, end; a second request finds no usable worker', async () => {
    const started = await call('POST', '/v1/sessions', { host: 'pve1', tasks: 4, lease: '5m' });
    expect(started.status).to.equal(201);
    const s = started.json.session as { id: string; leaseMs: number; state: string };
    expect(started.json.worker).to.equal('w1');
    expect(s.leaseMs).to.equal(300_000);
    expect(s.state).to.equal('ready');
    expect((await call('GET', `/v1/sessions/${s.id}`)).json.id).to.equal(s.id);
    const list = await call('GET', '/v1/sessions');
    expect((list.json.sessions as { id: string }[]).map((x) => x.id)).to.deep.equal([s.id]);
    const renewed = await call('POST', `/v1/sessions/${s.id}/renew`, { lease: 600 });
    expect((renewed.json as { leaseMs: number }).leaseMs).to.equal(600_000);
    const none = await call('POST', '/v1/sessions', { host: 'pve1' });
    expect(none.status).to.equal(503);
    expect((none.json.error as { message: string }).message).to.equal(
      'no usable worker for host pve1: no enabled worker has 1 free task slot(s): w1: 0 of 4 task slots free; w2: disabled',
    );
    const ended = await call('DELETE', `/v1/sessions/${s.id}?reason=backup%20done`);
    expect(ended.json).to.deep.equal({ ended: s.id, reason: 'backup done' });
    expect(h.store.getWorker('w1')!.status.phase).to.equal('ShutDown');
  });

  it('workers: summary list, detail with history, full records', async () => {
    await call('POST', '/v1/workers/w1/test');
    const list = await call('GET', '/v1/workers');
    const workers = list.json.workers as { name: string; phase: string; lastTest?: { ok: boolean } }[];
    expect(workers.map((w) => [w.name, w.phase])).to.deep.equal([
      ['w1', 'ShutDown'],
      ['w2', 'Configured'],
    ]);
    expect(workers[0]!.lastTest?.ok).to.equal(true);
    const detail = await call('GET', '/v1/workers/w1');
    expect((detail.json.history as unknown[]).length).to.be.greaterThan(3);
    expect((detail.json.spec as { host: string }).host).to.equal('pve1');
    const full = await call('GET', '/v1/workers?full=1');
    expect((full.json.workers as { specHash: string }[])[0]!.specHash).to.equal('hash-w1');
  });

  it('metrics: Prometheus text with workers by phase, sessions, reconciles, queue, Proxmox calls', async () => {
    metrics.observeReconcile(120, 'success');
    metrics.bindQueueDepth(() => 3);
    metrics.onProxmoxCall({ operation: 'clone', durationMs: 2000 });
    metrics.onProxmoxCall({
      operation: 'clone',
      durationMs: 10,
      error: Object.assign(new Error('x'), { name: 'LockTimeoutError' }),
    });
    await call('POST', '/v1/sessions', { host: 'pve1' });
    const res = await call('GET', '/metrics');
    expect(res.headers.get('content-type')).to.match(/^text\/plain/);
    const text = res.text;
    expect(text).to.contain('workerctl_workers{phase="Working"} 1');
    expect(text).to.contain('workerctl_workers{phase="Configured"} 1');
    expect(text).to.contain('workerctl_sessions{state="ready"} 1');
    expect(text).to.contain('workerctl_reconciles_total{result="success"} 1');
    expect(text).to.contain('workerctl_reconcile_duration_seconds_count{result="success"} 1');
    expect(text).to.contain('workerctl_queue_depth 3');
    expect(text).to.contain('workerctl_proxmox_calls_total{operation="clone"} 2');
    expect(text).to.contain('workerctl_proxmox_errors_total{operation="clone",error="LockTimeoutError"} 1');
    expect(text).to.contain('workerctl_session_starts_total{result="ok"} 1');
    expect(text).to.match(
      /workerctl_http_requests_total\{method="POST",route="\/v1\/sessions",code="201"\} 1/,
    );
  });

  it('events: server-sent events of status changes (phase with cause, sessions)', async () => {
    const lines: string[] = [];
    let buffer = '';
    const url = new URL(api.url + '/v1/events');
    const req = request({ host: url.hostname, port: url.port, path: url.pathname });
    const got = new Promise<void>((resolve, reject) => {
      req.on('response', (res) => {
        expect(res.headers['content-type']).to.match(/^text\/event-stream/);
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          const parts = buffer.split('\n\n');
          buffer = parts.pop()!;
          lines.push(...parts);
          if (
            lines.some((l) => l.includes('"state":"ready"')) &&
            lines.some((l) => l.includes('"phase":"Working"'))
          )
            resolve();
        });
      });
      req.on('error', reject);
    });
    req.end();
    await new Promise((r) => setTimeout(r, 30));
    await call('POST', '/v1/sessions', { host: 'pve1' });
    await got;
    req.destroy();
    const events = lines
      .filter((l) => l.includes('data: '))
      .map((l) => JSON.parse(l.split('data: ')[1]!) as Record<string, unknown>);
    const working = events.find((e) => e.type === 'worker' && e.phase === 'Working')!;
    expect(working.worker).to.equal('w1');
    expect(working.cause).to.match(/^phase (Testing|Updating) -> Working: session s-/);
    expect(events.filter((e) => e.type === 'session').map((e) => e.state)).to.deep.equal([
      'starting',
      'ready',
    ]);
    expect(lines[0]).to.equal('retry: 2000');
    expect(lines.some((l) => l.startsWith('id: '))).to.equal(true);
    expect(bus.listeners).to.be.at.most(1);
  });

  it('without a token configured, changes are refused with a clear message', async () => {
    const ro = await startApiServer(
      {
        store: h.store,
        events: bus,
        metrics,
        logger: silentLogger(),
        clock: h.clock,
        isReady: () => true,
      },
      '127.0.0.1:0',
    );
    try {
      const res = await fetch(ro.url + '/v1/sessions', { method: 'POST', body: '{}' });
      expect(res.status).to.equal(403);
      const body = (await res.json()) as { error: { message: string } };
      expect(body.error.message).to.contain('--api-token-file');
      expect((await fetch(ro.url + '/v1/sessions')).status).to.equal(503);
    } finally {
      await ro.close();
    }
  });

  /** Sends raw bytes and resolves with the status line of the answer (or '' when the socket closed). */
  function raw(text: string): Promise<string> {
    const { port } = new URL(api.url);
    return new Promise((resolve, reject) => {
      const sock = connect(Number(port), '127.0.0.1', () => sock.write(text));
      let got = '';
      sock.on('data', (d) => {
        got += d.toString('latin1');
        if (got.includes('\r\n')) {
          sock.destroy();
          resolve(got.split('\r\n')[0]!);
        }
      });
      sock.on('error', reject);
      sock.on('close', () => resolve(got.split('\r\n')[0] ?? ''));
    });
  }

  it('issue 11 point 1: a malformed request target is a 400 and the server keeps serving', async () => {
    expect(await raw('GET http://[::1/ HTTP/1.1\r\nHost: x\r\n\r\n')).to.equal('HTTP/1.1 400 Bad Request');
    expect(await raw('GET * HTTP/1.1\r\nHost: x\r\n\r\n')).to.equal('HTTP/1.1 400 Bad Request');
    // The absolute form (RFC 9112 3.2.2) is a valid request target.
    expect(await raw('GET http://127.0.0.1/healthz HTTP/1.1\r\nHost: x\r\n\r\n')).to.equal('HTTP/1.1 200 OK');
    expect((await call('GET', '/healthz')).status).to.equal(200);
  });

  it('issue 11 point 1: names from the path never reach prototype members; bad escapes are 400s', async () => {
    for (const path of [
      '/v1/workers/__proto__',
      '/v1/workers/constructor',
      '/v1/workers/hasOwnProperty',
      '/v1/sessions/constructor',
      '/v1/sessions/__proto__',
    ]) {
      const res = await call('GET', path);
      expect(res.status, path).to.equal(404);
      expect(res.text, path).not.to.match(/TypeError|Cannot read|at Object|\.js:/);
    }
    expect((await call('POST', '/v1/workers/constructor/test')).status).to.equal(404);
    expect((await call('POST', '/v1/sessions/__proto__/renew', {})).status).to.equal(404);
    expect((await call('DELETE', '/v1/sessions/toString')).status).to.equal(404);
    const bad = await call('GET', '/v1/workers/%E0%A4%A');
    expect(bad.status).to.equal(400);
    expect((bad.json.error as { param: string }).param).to.equal('name');
    expect((await call('GET', '/v1/sessions/%zz')).status).to.equal(400);
  });

  it('issue 11 point 3: a non-loopback --listen is refused without --allow-insecure-listen (no TLS)', async () => {
    expect(isLoopbackHost('127.0.0.1')).to.equal(true);
    expect(isLoopbackHost('127.3.2.1')).to.equal(true);
    expect(isLoopbackHost('::1')).to.equal(true);
    expect(isLoopbackHost('localhost')).to.equal(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'pve1.lan', '::ffff:10.0.0.1'])
      expect(isLoopbackHost(host), host).to.equal(false);
    for (const listen of ['0.0.0.0:0', '[::]:0', ':0'.replace(':0', '10.1.2.3:0')]) {
      const err = await startApiServer(
        { store: h.store, events: bus, metrics, logger: silentLogger(), clock: h.clock, isReady: () => true },
        listen,
      ).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err, listen).to.be.instanceOf(ConfigError);
      expect(err!.message).to.contain('--allow-insecure-listen').and.to.contain('TLS');
    }
  });
});
