/**
 * Safety invariant 5 end to end: the Proxmox API token and the update proxy's password, handed to
 * workerctl the only ways it accepts (a token file, a passwordFile), never show up in what workerctl
 * writes: logs (at debug level), plan output, status output, the database, the HTTP API, or an error.
 */
import { expect } from 'chai';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../controller/log.js';
import { startSimulator, type RunningSimulator } from '../../controller/simulator/index.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { LifecycleEnv } from '../helpers/lifecycle-env.js';
import { runCli } from '../helpers/cli.js';

const PROXY_PASSWORD = 'Pr0xy-S3cret-77';
const TOKEN_SECRET = '5ec2e7aa-0b1c-4d2e-9f3a-7b6c5d4e3f21';
const TOKEN = `root@pam!workerctl=${TOKEN_SECRET}`;

function workerYaml(name: string, passwordFile: string): string {
  return [
    'apiVersion: workerctl.dev/v1',
    'kind: Worker',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    '  host: pve1',
    '  template: worker-template',
    '  storage: local-lvm',
    '  deploy: Eager',
    '  networks:',
    '    - bridge: vmbr0',
    '      ipv4: dhcp',
    '  updates:',
    '    enabled: true',
    `    proxy: {host: proxy.lan, port: 3128, username: bob, passwordFile: ${passwordFile}}`,
    '',
  ].join('\n');
}

function expectNoSecret(where: string, text: string): void {
  expect(text, `${where} leaks the proxy password`).not.to.contain(PROXY_PASSWORD);
  expect(text, `${where} leaks the API token secret`).not.to.contain(TOKEN_SECRET);
}

describe('safety invariant 5: secrets never appear in logs, status, the database or plan output', function () {
  this.timeout(90_000);
  let sim: RunningSimulator;
  let dir: { path: string; remove: () => void };

  before(async () => {
    sim = await startSimulator({ latency: 'fast', token: TOKEN });
    dir = makeTempDir('workerctl-inv5-');
  });
  after(async () => {
    await sim.close();
    dir.remove();
  });

  it('invariant 5: apply, plan and status through the real binary keep the token and proxy password out', async () => {
    const manifests = join(dir.path, 'workers');
    const state = join(dir.path, 'state');
    const tokenFile = join(dir.path, 'token');
    writeFileSync(tokenFile, `PVEAPIToken=${TOKEN}\n`, { mode: 0o600 });
    mkdirSync(manifests);
    writeFileSync(join(manifests, 'proxy.pass'), PROXY_PASSWORD + '\n', { mode: 0o600 });
    writeFileSync(join(manifests, 'w.yaml'), workerYaml('inv5-w1', 'proxy.pass'));
    const conn = ['--server', sim.url, '--token-file', tokenFile, '--state-dir', state];
    const debug = { WORKERCTL_LOG_LEVEL: 'debug' };

    const apply = await runCli(['apply', '-f', manifests, '--wait', '--timeout', '60s', ...conn], {
      env: debug,
      timeoutMs: 60_000,
    });
    expect(apply.code, apply.stderr).to.equal(0);
    expect(apply.stderr.length, 'debug logging produced output').to.be.greaterThan(0);
    expectNoSecret('apply output', apply.stdout + apply.stderr);

    for (const output of ['text', 'json']) {
      const plan = await runCli(['plan', '-f', manifests, '-o', output, ...conn], { env: debug });
      expect(plan.code, plan.stderr).to.equal(0);
      expectNoSecret(`plan -o ${output}`, plan.stdout + plan.stderr);
    }
    for (const output of ['table', 'json', 'yaml']) {
      const status = await runCli(['status', '-o', output, '--state-dir', state], { env: debug });
      expect(status.code, status.stderr).to.equal(0);
      expect(status.stdout).to.contain('inv5-w1');
      expectNoSecret(`status -o ${output}`, status.stdout + status.stderr);
    }
    expectNoSecret('the database', readFileSync(join(state, 'workerctl.db.json'), 'utf8'));

    // A wrong secret: the error names the token id, never the secret that was tried.
    const wrong = join(dir.path, 'wrong-token');
    writeFileSync(wrong, `root@pam!workerctl=${TOKEN_SECRET.replace('5ec2', '0000')}\n`);
    const denied = await runCli(['plan', '-f', manifests, '--server', sim.url, '--token-file', wrong], {
      env: debug,
    });
    expect(denied.code).to.equal(1);
    expect(denied.stdout + denied.stderr).not.to.contain(TOKEN_SECRET.slice(4));
  });

  it('invariant 5: a test and a session that run the update through the proxy keep its password out', async () => {
    let logged = '';
    const logger = createLogger({
      format: 'json',
      level: 'debug',
      stream: new Writable({
        write(chunk, _enc, cb) {
          logged += String(chunk);
          cb();
        },
      }),
    });
    // A chatty update tool that prints the proxy URL it was given, credentials included.
    sim.sim.setGuestCommand('\\b(dnf|yum)\\b', {
      exitCode: 0,
      stdout: `Using proxy http://bob:${PROXY_PASSWORD}@proxy.lan:3128\nNothing to do.\n`,
      durationMs: 5,
    });
    const env = new LifecycleEnv({ sim, logger });
    writeFileSync(join(env.manifests, 'proxy.pass'), PROXY_PASSWORD + '\n');
    env.write('w.yaml', workerYaml('inv5-w2', 'proxy.pass'));
    try {
      await env.start();
      await env.converged();
      const test = await env.http<{ ok: boolean }>('POST', '/v1/workers/inv5-w2/test');
      expect(test.status, JSON.stringify(test.body)).to.be.oneOf([200, 202]);
      const session = await env.http<{ session: { id: string } }>('POST', '/v1/sessions', { host: 'pve1' });
      expect(session.status, JSON.stringify(session.body)).to.be.oneOf([200, 201]);
      const worker = await env.http('GET', '/v1/workers/inv5-w2');
      expect(JSON.stringify(worker.body)).to.contain('updates');
      expectNoSecret('GET /v1/workers/NAME', JSON.stringify(worker.body));
      expectNoSecret('GET /v1/sessions', JSON.stringify((await env.http('GET', '/v1/sessions')).body));
      expectNoSecret('GET /metrics', JSON.stringify((await env.http('GET', '/metrics')).body));
      await env.http('DELETE', `/v1/sessions/${session.body.session.id}`);
      await env.stop();
      expect(logged).to.contain('inv5-w2');
      expectNoSecret('controller logs', logged);
      expectNoSecret('the database', readFileSync(join(env.state, 'workerctl.db.json'), 'utf8'));
    } finally {
      await env.dispose();
    }
  });
});
