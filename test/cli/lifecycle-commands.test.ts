/**
 * `workerctl test`, `session` and `status` as a user runs them: the real binary in a child process,
 * talking to a running controller's API (in this process, over the simulator).
 */
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { LifecycleEnv } from '../helpers/lifecycle-env.js';
import { onDemandYaml as workerYaml } from '../helpers/manifests.js';

describe('lifecycle CLI against a running controller', function () {
  this.timeout(60_000);
  let env: LifecycleEnv;
  let tokenFile: string;

  before(async () => {
    env = new LifecycleEnv();
    env.write('a.yaml', workerYaml('cli-w1', { deploy: 'Eager' }));
    env.write(
      'b.yaml',
      workerYaml('cli-w2', { host: 'pve2', updates: { enabled: false } }).replace(
        '  name: cli-w2',
        '  name: cli-w2\n  labels: { tier: test }',
      ),
    );
    await env.start();
    await env.converged();
    tokenFile = join(env.state, 'token-copy');
    writeFileSync(tokenFile, env.token + '\n');
  });
  after(async () => {
    await env.dispose();
  });

  const api = () => ['--controller', env.url, '--api-token-file', tokenFile];

  it('session start, list, renew, end', async () => {
    const start = await runCli([
      'session',
      'start',
      '--host',
      'pve1',
      '--tasks',
      '2',
      '--lease',
      '10m',
      ...api(),
    ]);
    expect(start.code, start.stderr).to.equal(0);
    const m = /^session (s-[0-9a-f]+) started: worker cli-w1 at (10\.0\.0\.\d+), lease until \S+\n$/.exec(
      start.stdout,
    );
    expect(m, start.stdout).to.not.equal(null);
    const id = m![1]!;
    const list = await runCli(['session', 'list', '-o', 'json', ...api()]);
    const sessions = (
      JSON.parse(list.stdout) as { sessions: { id: string; worker: string; tasks: number }[] }
    ).sessions;
    expect(sessions.map((s) => [s.id, s.worker, s.tasks])).to.deep.equal([[id, 'cli-w1', 2]]);
    const table = await runCli(['session', 'list', ...api()]);
    expect(table.stdout).to.contain(id).and.contain('ready');
    const renew = await runCli(['session', 'renew', id, '--lease', '20m', ...api()]);
    expect(renew.code, renew.stderr).to.equal(0);
    expect(renew.stdout).to.match(new RegExp(`^session ${id} renewed: lease until `));
    const end = await runCli(['session', 'end', id, '--reason', 'nightly done', ...api()]);
    expect(end.code, end.stderr).to.equal(0);
    expect(env.record('cli-w1')!.status.phase).to.equal('ShutDown');
    expect(env.record('cli-w1')!.status.history.some((h) => h.cause === 'nightly done')).to.equal(true);
  });

  it('session start through the environment (WORKERCTL_CONTROLLER, WORKERCTL_API_TOKEN), with a fallback', async () => {
    const res = await runCli(['session', 'start', '--host', 'pve3', '-o', 'json'], {
      env: { WORKERCTL_CONTROLLER: env.url, WORKERCTL_API_TOKEN: env.token },
    });
    expect(res.code, res.stderr).to.equal(0);
    const grant = JSON.parse(res.stdout) as { worker: string; fallback: boolean; session: { id: string } };
    expect(grant.fallback).to.equal(true);
    const end = await runCli(['session', 'end', grant.session.id], {
      env: { WORKERCTL_CONTROLLER: env.url, WORKERCTL_API_TOKEN: env.token },
    });
    expect(end.code, end.stderr).to.equal(0);
  });

  it('session start without a usable worker fails with the reason (exit 1)', async () => {
    const res = await runCli(['session', 'start', '--host', 'pve1', '--tasks', '9', ...api()]);
    expect(res.code).to.equal(1);
    expect(res.stderr).to.contain(
      'no usable worker for host pve1: no enabled worker has 9 free task slot(s)',
    );
  });

  it('without the token a change is refused; a wrong flag value is a usage error', async () => {
    const res = await runCli(['session', 'start', '--host', 'pve1', '--controller', env.url], {
      env: { WORKERCTL_API_TOKEN: '' },
    });
    expect(res.code).to.equal(1);
    // (A .workerctl/api-token in the working directory would be sent instead: refused all the same.)
    expect(res.stderr).to.match(/this request changes something|the API token does not match/);
    const usage = await runCli(['session', 'start', '--host', 'pve1', '--tasks', 'two', ...api()]);
    expect(usage.code, 'a usage error is an error: 1 (2 means changes pending)').to.equal(1);
    expect(usage.stderr).to.contain("--tasks: 'two' is not a positive integer");
  });

  it('test NAME prints each check; exit 0 on pass, 1 on failure', async () => {
    // -l picks the workers to test: only cli-w2 carries tier=test.
    const ok = await runCli(['test', '-l', 'tier=test', ...api()]);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.match(/^worker cli-w2: test passed\n/);
    for (const check of ['agent', 'network', 'proxmox-host', 'backup-server'])
      expect(ok.stdout).to.contain(check);
    // pve2's address from GET /cluster/status (pve-manager PVE/API2/Cluster.pm get_status), no flag given.
    expect(ok.stdout).to.contain('10.0.0.12 ping statistics');
    expect(ok.stdout).to.not.contain('updates');
    env.sim.sim.world.network.unreachable!.push('10.0.0.50');
    try {
      const bad = await runCli(['test', 'cli-w2', '-o', 'json', ...api()]);
      expect(bad.code).to.equal(1);
      const out = JSON.parse(bad.stdout) as {
        result: { ok: boolean; checks: { name: string; ok: boolean }[] };
      };
      expect(out.result.checks.filter((c) => !c.ok).map((c) => c.name)).to.deep.equal(['backup-server']);
    } finally {
      env.sim.sim.world.network.unreachable!.pop();
    }
  });

  it('status reads the running controller', async () => {
    const res = await runCli([
      'status',
      '-o',
      'json',
      '--controller',
      env.url,
      '--state-dir',
      '/nonexistent',
    ]);
    expect(res.code, res.stderr).to.equal(0);
    const names = (JSON.parse(res.stdout) as { workers: { name: string }[] }).workers.map((w) => w.name);
    expect(names).to.deep.equal(['cli-w1', 'cli-w2']);
    const selected = await runCli(['status', '-l', 'tier=test', '-o', 'yaml', '--controller', env.url]);
    expect(selected.code, selected.stderr).to.equal(0);
    expect(selected.stdout).to.match(/^ {2}- name: cli-w2$/m);
    expect(selected.stdout).not.to.contain('cli-w1');
  });

  it('says plainly when no controller is running', async () => {
    for (const args of [
      ['session', 'list'],
      ['session', 'start', '--host', 'pve1'],
      ['test', 'cli-w1'],
      ['status'],
    ]) {
      const res = await runCli([...args, '--controller', 'http://127.0.0.1:9']);
      expect(res.code, args.join(' ')).to.equal(1);
      expect(res.stderr).to.contain('no controller is running at http://127.0.0.1:9');
    }
  });
});
