import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkerBusyError } from '../../controller/lifecycle/errors.js';
import { testWorker } from '../../controller/lifecycle/bring-up.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { harness, record } from '../helpers/lifecycle-fakes.js';

describe('lifecycle: worker test', () => {
  it('deploys an OnDemand worker, checks everything, updates, powers off: phase ShutDown', async () => {
    const h = await harness([record('w1')]);
    const result = await testWorker(h.deps, 'w1');
    expect(result.ok).to.equal(true);
    expect(result.checks.map((c) => c.name)).to.deep.equal([
      'agent',
      'network',
      'proxmox-host',
      'backup-server',
      'updates',
    ]);
    const rec = h.store.getWorker('w1')!;
    expect(rec.status.phase).to.equal('ShutDown');
    expect(rec.vmid).to.be.a('number');
    expect(h.power.running.size).to.equal(0);
    expect(rec.status.lastTest?.ok).to.equal(true);
    const phases = rec.status.history.filter((e) => e.action.startsWith('phase')).map((e) => e.action);
    expect(phases).to.deep.equal([
      'phase Configured -> Testing',
      'phase Testing -> Updating',
      'phase Updating -> ShutDown',
    ]);
    for (const e of rec.status.history) expect(e.cause).to.be.a('string').and.not.equal('');
    const cmds = h.guest.execs.map((e) => e.command.join(' '));
    expect(cmds).to.include('ping -c 1 -W 2 pve1');
    expect(cmds).to.include('ping -c 1 -W 2 vbr.lan');
    expect(cmds).to.include('dnf -y upgrade --refresh');
    expect(rec.status.conditions.find((c) => c.type === 'Degraded')?.status).to.equal('False');
  });

  it('tests an Eager (already deployed) worker without deploying again', async () => {
    const h = await harness([record('w1', { deploy: 'Eager' }, { vmid: 150, node: 'pve1' })]);
    const result = await testWorker(h.deps, 'w1');
    expect(result.ok).to.equal(true);
    expect(h.power.deploys).to.equal(0);
    expect(h.store.getWorker('w1')!.vmid).to.equal(150);
  });

  it('skips the update step when updates are off', async () => {
    const h = await harness([record('w1', { updates: { enabled: false } })]);
    const result = await testWorker(h.deps, 'w1');
    expect(result.ok).to.equal(true);
    expect(result.checks.map((c) => c.name)).to.not.include('updates');
    expect(h.guest.execs.some((e) => e.command.includes('dnf'))).to.equal(false);
    const phases = h.store.getWorker('w1')!.status.history.map((e) => e.action);
    expect(phases).to.not.include('phase Testing -> Updating');
  });

  it('can test a disabled worker', async () => {
    const h = await harness([record('w1', { enabled: false })]);
    expect((await testWorker(h.deps, 'w1')).ok).to.equal(true);
  });

  const failures: {
    check: string;
    reason: string;
    arrange: (h: Awaited<ReturnType<typeof harness>>) => void;
  }[] = [
    { check: 'deploy', reason: 'DeployCheckFailed', arrange: (h) => h.power.failDeploy.add('w1') },
    { check: 'agent', reason: 'AgentCheckFailed', arrange: (h) => h.guest.agentDead.add(100) },
    {
      check: 'network',
      reason: 'NetworkCheckFailed',
      arrange: (h) => h.guest.interfaces.set(100, [{ name: 'eth0', ipAddresses: [] }]),
    },
    {
      check: 'proxmox-host',
      reason: 'ProxmoxHostCheckFailed',
      arrange: (h) => h.guest.execRules.push([/ping .* pve1$/, 1, '1 packets transmitted, 0 received']),
    },
    {
      check: 'backup-server',
      reason: 'BackupServerCheckFailed',
      arrange: (h) =>
        h.guest.execRules.push([/ping .* vbr\.lan$/, 2, 'ping: vbr.lan: Name or service not known']),
    },
    {
      check: 'updates',
      reason: 'UpdatesCheckFailed',
      arrange: (h) =>
        h.guest.execRules.push([/dnf/, 1, 'Curl error (7): Failed to connect to mirrors.rockylinux.org']),
    },
  ];
  for (const tc of failures) {
    it(`a failing ${tc.check} check marks the worker Degraded (${tc.reason}) and still powers it off`, async () => {
      const h = await harness([record('w1')]);
      tc.arrange(h);
      const result = await testWorker(h.deps, 'w1');
      expect(result.ok).to.equal(false);
      const failed = result.checks.filter((c) => !c.ok);
      expect(failed.map((c) => c.name)).to.deep.equal([tc.check]);
      expect(failed[0]!.output).to.not.equal('');
      const rec = h.store.getWorker('w1')!;
      const degraded = rec.status.conditions.find((c) => c.type === 'Degraded');
      expect(degraded?.status).to.equal('True');
      expect(degraded?.reason).to.equal(tc.reason);
      expect(h.power.running.size).to.equal(0);
      expect(rec.status.phase).to.equal(tc.check === 'deploy' ? 'Configured' : 'ShutDown');
      expect(rec.status.lastTest?.ok).to.equal(false);
    });
  }

  it('gives up waiting for an agent that never answers within the bound', async () => {
    const h = await harness([record('w1')], { agentTimeoutMs: 90_000 });
    h.guest.agentDead.add(100);
    const t0 = h.clock.now();
    const result = await testWorker(h.deps, 'w1');
    expect(result.ok).to.equal(false);
    const agent = result.checks.find((c) => c.name === 'agent')!;
    expect(agent.output).to.match(/did not answer within 90 s/);
    expect(h.clock.now() - t0).to.be.within(90_000, 95_000);
  });

  it('checks the configured static address on the first network', async () => {
    const h = await harness([
      record('w1', {
        networks: [{ bridge: 'vmbr0', ipv4: { address: '10.0.20.15/24', gateway: '10.0.20.1' } }],
      }),
    ]);
    h.guest.interfaces.set(100, [
      { name: 'lo', ipAddresses: [{ address: '127.0.0.1', prefix: 8, type: 'ipv4' }] },
      { name: 'eth0', ipAddresses: [{ address: '10.0.20.99', prefix: 24, type: 'ipv4' }] },
    ]);
    const bad = await testWorker(h.deps, 'w1');
    expect(bad.checks.find((c) => c.name === 'network')?.output).to.match(
      /expected 10\.0\.20\.15\/24, found eth0: 10\.0\.20\.99\/24/,
    );
    h.guest.interfaces.set(100, [
      { name: 'eth0', ipAddresses: [{ address: '10.0.20.15', prefix: 24, type: 'ipv4' }] },
    ]);
    expect((await testWorker(h.deps, 'w1')).ok).to.equal(true);
  });

  it('passes the proxy to the update command on stdin; the password never reaches status or arguments', async () => {
    const dir = makeTempDir();
    try {
      const pw = join(dir.path, 'proxy-pass');
      writeFileSync(pw, 's3cr3t-Pa55\n');
      const h = await harness([
        record('w1', {
          updates: {
            enabled: true,
            proxy: { host: 'proxy.lan', port: 3128, username: 'bob', passwordFile: pw },
          },
        }),
      ]);
      h.guest.execRules.push([/dnf/, 0, 'proxy in use: http://bob:s3cr3t-Pa55@proxy.lan:3128']);
      const result = await testWorker(h.deps, 'w1');
      expect(result.ok).to.equal(true);
      const upd = h.guest.execs.find((e) => e.command.includes('dnf'))!;
      expect(upd.inputData).to.equal('http://bob:s3cr3t-Pa55@proxy.lan:3128\n');
      expect(upd.command.join(' ')).to.not.contain('s3cr3t');
      expect(upd.command.slice(-4)).to.deep.equal(['dnf', '-y', 'upgrade', '--refresh']);
      expect(JSON.stringify(h.store.getWorker('w1'))).to.not.contain('s3cr3t');
      expect(result.checks.find((c) => c.name === 'updates')!.output).to.contain('via proxy proxy.lan:3128');
    } finally {
      dir.remove();
    }
  });

  it('refuses to test a worker that serves sessions', async () => {
    const h = await harness([record('w1')]);
    const rec = h.store.getWorker('w1')!;
    await h.store.seedWorker({ ...rec, status: { ...rec.status, phase: 'Working', sessions: ['s-1'] } });
    let err: unknown;
    await testWorker(h.deps, 'w1').catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(WorkerBusyError);
  });
});
