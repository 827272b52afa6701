/**
 * The fleet page over HTTP: served at / on the API's listener with its assets, the right content
 * types and a strict Content-Security-Policy, nothing referenced from another origin, and no value
 * from a manifest in anything the server renders (hostile labels, descriptions and names reach the
 * page only as JSON, which the page puts into the DOM as text). The page in a real browser is
 * `make browser` (test/browser/).
 */
import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ControllerMetrics } from '../../controller/api/metrics.js';
import { PAGE_CSP } from '../../controller/api/page.js';
import { startApiServer, type ApiServer } from '../../controller/api/server.js';
import { EventBus } from '../../controller/lifecycle/events.js';
import { silentLogger } from '../../controller/log.js';
import { ManifestHealth } from '../../controller/loop/manifest-health.js';
import { webDir } from '../../controller/paths.js';
import type { Plan } from '../../controller/reconcile/contracts.js';
import { loadOf } from '../helpers/builders.js';
import { harness, record, spec, type Harness } from '../helpers/lifecycle-fakes.js';

const HOSTILE_LABEL = '<img src=x onerror=alert(1)>';
const HOSTILE_DESCRIPTION = '</script><script>alert(2)</script>"><svg onload=alert(3)>';
const HOSTILE_NAME = 'x"><b>bold</b>';

describe('fleet page over HTTP', () => {
  let h: Harness;
  let api: ApiServer;
  const plan: Plan = {
    converged: false,
    actions: [
      {
        worker: 'w1',
        kind: 'conflict',
        class: 'none',
        reason: `vm 120 is named w1 but is not ours ${HOSTILE_LABEL}`,
        changes: [],
        blockedBy: 'Conflict: rename or remove the foreign VM',
      },
    ],
    massDeleteBlocked: { wouldDelete: 3, of: 4, threshold: '50%' },
  };

  let ready: boolean;

  beforeEach(async () => {
    ready = true;
    h = await harness([
      record('w1', { labels: { site: HOSTILE_LABEL }, description: HOSTILE_DESCRIPTION }),
      record(HOSTILE_NAME, { labels: { 'a/b': HOSTILE_DESCRIPTION.slice(0, 60) } }),
    ]);
    const metrics = new ControllerMetrics({ processMetrics: false });
    metrics.bindStore(h.store);
    const health = new ManifestHealth(['workers/']);
    const load = loadOf([spec('w1')], { invalidFiles: ['workers/broken.yaml'] });
    load.diagnostics.push({
      file: 'workers/broken.yaml',
      line: 12,
      col: 7,
      pointer: '',
      severity: 'error',
      code: 'yaml.syntax',
      message: `expected a mapping ${HOSTILE_LABEL}`,
    });
    health.loaded({ load, plan, durationMs: 5 });
    api = await startApiServer(
      {
        store: h.store,
        events: new EventBus(),
        metrics,
        logger: silentLogger(),
        clock: h.clock,
        isReady: () => ready,
        plan: () => plan,
        manifests: () => health.view(),
      },
      '127.0.0.1:0',
    );
  });

  afterEach(async () => {
    await api.close();
  });

  const get = (path: string, method = 'GET') => fetch(api.url + path, { method });

  it('serves the page at / with a strict CSP, nosniff, and no inline script, style or handler', async () => {
    const res = await get('/');
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).to.equal(PAGE_CSP);
    for (const directive of [
      "default-src 'self'",
      "script-src 'self'",
      "object-src 'none'",
      "frame-ancestors 'none'",
    ])
      expect(csp).to.include(directive);
    expect(csp).not.to.match(/unsafe-inline|unsafe-eval|\*|https?:/);
    expect(res.headers.get('x-content-type-options')).to.equal('nosniff');
    expect(res.headers.get('x-frame-options')).to.equal('DENY');
    const html = await res.text();
    expect(html).to.match(/<script type="module" src="\/ui\/app\.js"><\/script>/);
    // Every <script> has a src (no inline code), no style attribute or element, no on* handler.
    for (const tag of html.match(/<script\b[^>]*>/g) ?? []) expect(tag).to.match(/\ssrc="/);
    expect(html).not.to.match(/<style\b|\sstyle=|\son[a-z]+=/i);
  });

  it('serves every file the page and its modules reference, with its content type; nothing from another origin', async () => {
    const html = await (await get('/')).text();
    const refs = [...html.matchAll(/\s(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.filter((r) => r !== '#/')).to.have.length.greaterThan(2);
    for (const ref of refs) expect(ref, ref).to.match(/^(\/ui\/|#)/);
    const types: Record<string, string> = {
      js: 'text/javascript; charset=utf-8',
      css: 'text/css; charset=utf-8',
      svg: 'image/svg+xml',
    };
    const seen = new Set<string>();
    const queue = refs.filter((r) => r.startsWith('/ui/'));
    while (queue.length) {
      const path = queue.shift()!;
      if (seen.has(path)) continue;
      seen.add(path);
      const res = await get(path);
      expect(res.status, path).to.equal(200);
      expect(res.headers.get('content-type'), path).to.equal(types[path.split('.').pop()!]);
      expect(res.headers.get('content-security-policy'), path).to.equal(PAGE_CSP);
      const text = await res.text();
      // (an SVG's xmlns names a namespace; nothing is fetched from it)
      expect(text.replace(/xmlns="[^"]*"/g, ''), path).not.to.match(/https?:\/\//);
      // A module's imports are served too.
      for (const m of text.matchAll(/from '\.\/([a-z-]+\.js)'/g)) queue.push(`/ui/${m[1]}`);
    }
    const shipped = readdirSync(webDir).filter((f) => /\.(js|css|svg)$/.test(f));
    expect([...seen].map((p) => p.slice(4)).sort()).to.deep.equal(shipped.sort());
  });

  it('ships in the npm package (package.json files names web/)', () => {
    const pkg = JSON.parse(readFileSync(join(webDir, '..', 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).to.include('web');
  });

  it('answers 404 for anything that is not one of the page files; no path leaves web/', async () => {
    for (const path of [
      '/ui/nothing.js',
      '/ui/../package.json',
      '/ui/%2e%2e%2fpackage.json',
      '/ui/tsconfig.web.json',
      '/ui/',
      '/index.html',
    ]) {
      const res = await get(path);
      expect(res.status, path).to.equal(404);
      expect(res.headers.get('content-type'), path).to.match(/^application\/json/);
    }
  });

  it('HEAD / answers the headers without a body; the page and its files need no token', async () => {
    const head = await get('/', 'HEAD');
    expect(head.status).to.equal(200);
    expect(Number(head.headers.get('content-length'))).to.be.greaterThan(100);
    expect(await head.text()).to.equal('');
    expect((await get('/ui/app.js')).status).to.equal(200);
    expect((await get('/', 'POST')).status).to.equal(405);
  });

  it('hostile names, labels and descriptions never reach markup: the page is static, the API answers them as JSON', async () => {
    const html = await (await get('/')).text();
    for (const bad of ['alert(', 'onerror', HOSTILE_NAME, 'w1']) expect(html).not.to.include(bad);
    for (const path of [
      '/v1/workers',
      `/v1/workers/w1`,
      `/v1/workers/${encodeURIComponent(HOSTILE_NAME)}`,
      '/v1/plan',
      '/v1/manifests',
    ]) {
      const res = await get(path);
      expect(res.status, path).to.equal(200);
      expect(res.headers.get('content-type'), path).to.equal('application/json; charset=utf-8');
      expect(res.headers.get('x-content-type-options'), path).to.equal('nosniff');
    }
    const list = (await (await get('/v1/workers')).json()) as {
      workers: { name: string; labels: Record<string, string> }[];
    };
    const names = list.workers.map((w) => w.name);
    expect(names).to.include(HOSTILE_NAME);
    expect(list.workers.find((w) => w.name === 'w1')!.labels).to.deep.equal({ site: HOSTILE_LABEL });
    const detail = (await (await get('/v1/workers/w1')).json()) as { spec: { description: string } };
    expect(detail.spec.description).to.equal(HOSTILE_DESCRIPTION);
  });

  it("the page's scripts build the DOM from text only: no innerHTML, document.write or code from strings", () => {
    for (const file of readdirSync(webDir).filter((f) => f.endsWith('.js'))) {
      const text = readFileSync(join(webDir, file), 'utf8');
      expect(text, file).not.to.match(
        /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/,
      );
    }
  });

  it('GET /v1/plan: what is still to do and what is blocked; GET /v1/manifests: invalid files at file:line:col', async () => {
    const p = (await (await get('/v1/plan')).json()) as Record<string, unknown>;
    expect(p).to.deep.equal({
      converged: false,
      actions: [
        {
          worker: 'w1',
          kind: 'conflict',
          class: 'none',
          reason: plan.actions[0]!.reason,
          blockedBy: 'Conflict: rename or remove the foreign VM',
          changes: [],
        },
      ],
      massDeleteBlocked: { wouldDelete: 3, of: 4, threshold: '50%' },
    });
    ready = false;
    const early = await get('/v1/plan');
    expect(early.status).to.equal(503);
    expect(((await early.json()) as { error: { code: string } }).error.code).to.equal('not_ready');
    const m = (await (await get('/v1/manifests')).json()) as Record<string, unknown>;
    expect(m.paths).to.deep.equal(['workers/']);
    expect(m.lastLoad).to.include({ files: 2, workers: 1, errors: 1, warnings: 0 });
    expect((m.lastLoad as { invalidFiles: string[] }).invalidFiles).to.deep.equal(['workers/broken.yaml']);
    expect(m.lastSuccessAt).to.equal(undefined);
    expect(m.diagnostics).to.deep.equal([
      {
        file: 'workers/broken.yaml',
        line: 12,
        col: 7,
        severity: 'error',
        code: 'yaml.syntax',
        message: `expected a mapping ${HOSTILE_LABEL}`,
      },
    ]);
    expect(m.massDeleteBlocked).to.deep.equal({ wouldDelete: 3, of: 4, threshold: '50%' });
  });
});
