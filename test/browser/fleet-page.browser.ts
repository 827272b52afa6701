/**
 * The fleet page in a real browser (`make browser`, not part of make test): headless Chromium from
 * Debian's packages, driven by playwright-core, against the real `workerctl run` on a copy of
 * examples/ with the embedded simulator (what `make run` runs). It renders the fleet, shows a session
 * started through the API live, shows a broken manifest's error at file:line:col, runs a test from a
 * worker's page with the token asked for once, shows hostile labels as text, loads nothing from
 * elsewhere and breaks no CSP rule. Screenshots go to $BROWSER_ARTIFACTS.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { examplesDir, packageRoot } from '../../controller/paths.js';
import { cleanEnv, MAIN } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { launchChromium, type Page } from './playwright.js';

const ARTIFACTS = process.env.BROWSER_ARTIFACTS ?? join(packageRoot, 'dist', 'browser');
const HOSTILE_LABEL = '<img src=x onerror=window.__xss=1>';
const HOSTILE_DESCRIPTION = '</pre><script>window.__xss=2</script><b>bold</b>';

/** `workerctl run` on DIR/examples with the embedded simulator, its API on a free port. */
async function startController(dir: string) {
  const child = spawn(
    process.execPath,
    [
      MAIN,
      'run',
      '-f',
      'examples',
      '--simulate',
      '--listen',
      '127.0.0.1:0',
      '--state-dir',
      'state',
      '--log-format',
      'json',
    ],
    { cwd: dir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  let url = '';
  await eventually(() => {
    for (const line of log.split('\n')) {
      try {
        const j = JSON.parse(line) as { message?: string; url?: string };
        if (j.message === 'api listening' && j.url) url = j.url;
      } catch {
        // not a JSON line
      }
    }
    return Boolean(url) || child.exitCode !== null || 'waiting for the API';
  }, 30_000);
  if (!url) throw new Error(`workerctl run did not start:\n${log}`);
  const token = readFileSync(join(dir, 'state', 'api-token'), 'utf8').trim();
  return { child, url, token, log: () => log };
}

async function stopController(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exited;
}

describe('fleet page in Chromium (make browser)', function () {
  this.timeout(180_000);
  const tmp = makeTempDir('workerctl-browser-');
  let controller: Awaited<ReturnType<typeof startController>>;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  const requests: string[] = [];
  const consoleErrors: string[] = [];

  /** The text of the first element matching `selector`, or '' (evaluated in the page). */
  const text = (selector: string) =>
    page.evaluate<string>(`document.querySelector(${JSON.stringify(selector)})?.textContent ?? ''`);
  const card = (worker: string) => `#fleet [data-worker="${worker}"]`;
  const shot = async (name: string) => {
    const path = join(ARTIFACTS, name);
    await page.screenshot({ path, fullPage: true });
    console.log(`      screenshot: ${path}`);
  };

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    cpSync(examplesDir, join(tmp.path, 'examples'), { recursive: true });
    controller = await startController(tmp.path);
    browser = await launchChromium();
    page = browser.page;
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
  });

  after(async () => {
    await browser?.close();
    if (controller) expect(await stopController(controller.child), controller.log()).to.equal(0);
    tmp.remove();
  });

  it('renders the example fleet: every host with its workers, Ready, tasks, deploy mode, last action', async () => {
    await page.goto(controller.url + '/');
    await page.evaluate('window.__loadedOnce = true');
    await eventually(async () => {
      const summary = await text('#summary');
      return /^9 workers · 9 Ready/.test(summary) || summary;
    }, 60_000);
    expect(
      await page.evaluate<string[]>(
        '[...document.querySelectorAll("#fleet .host h2")].map(e => e.firstChild.textContent)',
      ),
    ).to.deep.equal(['pve1', 'pve2', 'pve3']);
    expect(await text(`${card('pve1-worker-02')} .phase`)).to.equal('ShutDown');
    expect(await text(`${card('pve1-worker-02')} .meta`)).to.match(/^Eager · vmid \d+$/);
    expect(await text(`${card('pve1-worker-03')} .tasks`)).to.match(/0 \/ 8 tasks/);
    expect(await text(`${card('pve3-worker-02')} .meta`)).to.match(/OnDemand.*disabled/);
    expect(await text(`${card('pve1-worker-01')} .ready`)).to.match(/^Ready · /);
    expect(await text(`${card('pve1-worker-01')} .last`)).to.match(/added \(.*pve1\.yaml:5\)/);
    expect(await text('#plan')).to.match(/Nothing to do/);
    expect(await text('#manifests')).to.match(/4 files, 9 workers · revision unknown/);
    expect(await text('#live')).to.equal('live');
  });

  it('shows a session started through the API live (no reload): Working, tasks in use', async () => {
    const started = fetch(controller.url + '/v1/sessions', {
      method: 'POST',
      headers: { authorization: `Bearer ${controller.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ host: 'pve2', tasks: 3, lease: '30m' }),
    });
    // The card changes while the session starts (Testing, then Working), before the answer.
    let seen = '';
    await eventually(async () => {
      seen = await page.evaluate<string>(
        `[...document.querySelectorAll('#fleet [data-host="pve2"] .card')].filter(c => /Testing|Updating|Working/.test(c.querySelector('.phase').textContent)).map(c => c.dataset.worker).join()`,
      );
      return Boolean(seen) || 'no pve2 worker busy yet';
    }, 60_000);
    const grant = (await (await started).json()) as { worker: string; session: { id: string } };
    expect(seen).to.equal(grant.worker);
    await eventually(async () => {
      const phase = await text(`${card(grant.worker)} .phase`);
      const tasks = await text(`${card(grant.worker)} .tasks`);
      const last = await text(`${card(grant.worker)} .last`);
      return (
        (phase === 'Working' && /3 \/ 4 tasks · 1 session/.test(tasks) && /Working/.test(last)) ||
        `${phase} ${tasks} ${last}`
      );
    }, 30_000);
    expect(await text('#summary')).to.match(/1 Working · 1 session/);
    expect(await page.evaluate<boolean>('window.__loadedOnce === true')).to.equal(true);
    await shot('fleet.png');
  });

  it("shows a broken manifest's error at file:line:col; the file's workers keep their last spec", async () => {
    const file = join(tmp.path, 'examples', 'pve3.yaml');
    const good = readFileSync(file, 'utf8');
    const broken = good.replace('  host: pve3\n', '  host pve3\n');
    expect(broken).not.to.equal(good);
    writeFileSync(file, broken);
    await eventually(async () => {
      const alerts = await text('#alerts');
      return /1 invalid manifest file: examples\/pve3\.yaml/.test(alerts) || alerts || 'no alert yet';
    }, 30_000);
    const where = await text('#manifests .diagnostics tbody tr td code');
    expect(where).to.match(/^examples\/pve3\.yaml:\d+:\d+$/);
    expect(await text(`${card('pve3-worker-01')} .ready`)).to.match(/^Ready/);
    await shot('fleet-broken-manifest.png');
    writeFileSync(file, good);
    await eventually(async () => (await text('#alerts')) === '' || 'alert still shown', 30_000);
  });

  it("runs a test from a worker's page: the token is asked for once and kept for the session", async () => {
    await page.goto(`${controller.url}/#/workers/pve3-worker-01`);
    await eventually(async () => (await text('main h1')) === 'pve3-worker-01' || 'loading');
    expect(await text('#spec-source')).to.match(/examples\/pve3\.yaml:\d+:1$/);
    await page.locator('#test-button').click();
    await page.locator('#token-dialog').waitFor({ state: 'visible' });
    await page.locator('#token-input').fill('not-the-token');
    await page.locator('#token-dialog button[type=submit]').click();
    // A refused token is forgotten and asked for again, saying so.
    await eventually(async () => /refused/.test(await text('#token-note')) || 'no note');
    await page.locator('#token-input').fill(controller.token);
    await page.locator('#token-dialog button[type=submit]').click();
    await eventually(
      async () => (await text('#notice')) === 'Test passed.' || (await text('#notice')),
      90_000,
    );
    const checks = await page.evaluate<string[]>(
      '[...document.querySelectorAll("#last-test .checks tbody tr td:first-child")].map(e => e.textContent)',
    );
    expect(checks).to.deep.equal(['agent', 'network', 'proxmox-host', 'backup-server']);
    expect(await page.evaluate<string | null>('sessionStorage.getItem("workerctl.apiToken")')).to.equal(
      controller.token,
    );
    await shot('worker.png');
  });

  it('shows hostile labels and descriptions as text, never as markup', async () => {
    await page.goto(`${controller.url}/#/`);
    writeFileSync(
      join(tmp.path, 'examples', 'hostile.yaml'),
      [
        'apiVersion: workerctl.dev/v1',
        'kind: Worker',
        'metadata:',
        '  name: pve3-hostile',
        `  labels: { x: ${JSON.stringify(HOSTILE_LABEL)} }`,
        'spec:',
        '  host: pve3',
        '  template: worker-template',
        '  storage: local-lvm',
        `  description: ${JSON.stringify(HOSTILE_DESCRIPTION)}`,
        '  networks: [{ bridge: vmbr0, ipv4: dhcp }]',
        '',
      ].join('\n'),
    );
    await eventually(
      async () => (await text(`${card('pve3-hostile')} .labels`)) === `x=${HOSTILE_LABEL}` || 'no card',
    );
    await page.goto(`${controller.url}/#/workers/pve3-hostile`);
    await eventually(async () => (await text('pre.spec')).includes(HOSTILE_DESCRIPTION) || 'no spec');
    expect(await page.evaluate<unknown>('window.__xss')).to.equal(undefined);
    expect(
      await page.evaluate<number>('document.querySelectorAll("main img, main script, main b").length'),
    ).to.equal(0);
  });

  it('loads nothing from outside the controller and breaks no CSP rule', () => {
    const origin = new URL(controller.url).origin;
    expect(requests.length).to.be.greaterThan(5);
    expect(requests.filter((u) => !u.startsWith(origin + '/'))).to.deep.equal([]);
    // The refused token answers 401, which Chromium reports as a failed resource; nothing else.
    expect(consoleErrors.filter((e) => !/status of 401/.test(e))).to.deep.equal([]);
  });
});
