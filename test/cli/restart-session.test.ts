/**
 * A controller restart in the middle of a session, with the real binaries: `workerctl run` serves a
 * session started by `workerctl session start`, is killed with SIGKILL, and started again over the
 * same state directory. The session is still there, the worker still Working and running, and
 * `workerctl session end` then shuts it down. The simulator lives in the test process.
 */
import { expect } from 'chai';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSimulator, type RunningSimulator } from '../../controller/simulator/index.js';
import { exited, runCli, simFlags, startCli, storedWorkers } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { eventually } from '../helpers/eventually.js';
import { onDemandYaml as workerYaml } from '../helpers/manifests.js';

describe('controller restart (kill -9) in the middle of a session, real binaries', function () {
  this.timeout(60_000);
  let sim: RunningSimulator;
  let tmp: { path: string; remove: () => void };
  const children: ReturnType<typeof startCli>[] = [];

  before(async () => {
    sim = await startSimulator({ latency: 'fast' });
    tmp = makeTempDir('workerctl-restart-');
  });
  after(async () => {
    // A failed test must not leave a controller behind (it would hold the simulator open).
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await sim.close();
    tmp.remove();
  });

  /** Starts `run` and resolves its API URL once it listens. */
  async function startRun(args: string[]) {
    const child = startCli(args);
    children.push(child);
    let url = '';
    await eventually(() => {
      const m = /"message":"api listening".*?"url":"(http:\/\/[^"]+)"/.exec(child.output());
      if (m) url = m[1]!;
      return Boolean(m) || child.exitCode !== null || child.output().slice(-300);
    }, 15_000);
    expect(url, child.output()).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    await eventually(async () => (await fetch(url + '/readyz')).status === 200, 15_000);
    return { child, url };
  }

  it('the session and its Working worker survive; ending it afterwards shuts the worker down', async () => {
    const manifests = join(tmp.path, 'workers');
    const state = join(tmp.path, 'state');
    mkdirSync(manifests);
    writeFileSync(join(manifests, 'w.yaml'), workerYaml('restart-w1'));
    const args = [
      'run',
      '-f',
      manifests,
      ...simFlags(sim, tmp.path),
      '--state-dir',
      state,
      '--listen',
      '127.0.0.1:0',
      '--no-view',
      // No --host-address: node addresses come from GET /cluster/status. The backup server is the
      // simulated world's (an external simulator: run cannot ask it).
      '--backup-server',
      '10.0.0.50',
    ];
    const tokenFile = join(state, 'api-token');

    const first = await startRun(args);
    const start = await runCli([
      'session',
      'start',
      '--host',
      'pve1',
      '--lease',
      '10m',
      '-o',
      'json',
      '--controller',
      first.url,
      '--api-token-file',
      tokenFile,
    ]);
    expect(start.code, start.stderr).to.equal(0);
    const id = (JSON.parse(start.stdout) as { session: { id: string } }).session.id;
    const vmid = storedWorkers(state)['restart-w1']!.vmid!;
    expect(sim.sim.getVm(vmid)?.status).to.equal('running');

    first.child.kill('SIGKILL');
    expect(await exited(first.child)).to.equal('SIGKILL');

    const second = await startRun(args);
    try {
      const list = await runCli(['session', 'list', '-o', 'json', '--controller', second.url]);
      const sessions = (JSON.parse(list.stdout) as { sessions: { id: string; state: string }[] }).sessions;
      expect(sessions.map((s) => [s.id, s.state])).to.deep.equal([[id, 'ready']]);
      const status = await runCli(['status', 'restart-w1', '-o', 'json', '--controller', second.url]);
      const w = (JSON.parse(status.stdout) as { workers: { phase: string; vmid: number }[] }).workers[0]!;
      expect(w.phase).to.equal('Working');
      expect(w.vmid).to.equal(vmid);
      expect(sim.sim.getVm(vmid)?.status).to.equal('running');
      const end = await runCli([
        'session',
        'end',
        id,
        '--controller',
        second.url,
        '--api-token-file',
        tokenFile,
      ]);
      expect(end.code, end.stderr).to.equal(0);
      expect(sim.sim.getVm(vmid)?.status).to.equal('stopped');
      // Status writes are coalesced: on disk a moment later.
      await eventually(() => storedWorkers(state)['restart-w1']?.status.phase === 'ShutDown');
      // Exactly one VM for the worker throughout.
      expect(sim.sim.listVms().filter((v) => v.name === 'restart-w1')).to.have.length(1);
    } finally {
      second.child.kill('SIGTERM');
    }
    expect(await exited(second.child), second.child.output().slice(-2000)).to.equal(0);
  });
});
