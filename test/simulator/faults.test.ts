import { expect } from 'chai';
import type { RunningSimulator } from '../../controller/simulator/index.js';
import { call, fastSimulator, waitTask } from './helpers.js';

describe('simulator: injected faults', () => {
  let s: RunningSimulator;
  before(async () => {
    s = await fastSimulator();
  });
  after(() => s.close());
  afterEach(() => s.sim.clearFaults());

  it('answers error faults with the given status and message, count times', async () => {
    s.sim.setFault({
      kind: 'error',
      method: 'GET',
      path: '^/cluster/resources',
      status: 500,
      message: 'cfs-lock timeout',
      count: 2,
    });
    const a = await call(s, 'GET', '/cluster/resources');
    expect(a.status).to.equal(500);
    expect(a.reason).to.equal('cfs-lock timeout');
    expect((await call(s, 'GET', '/cluster/resources')).status).to.equal(500);
    expect((await call(s, 'GET', '/cluster/resources')).status).to.equal(200);
    expect((await call(s, 'GET', '/version')).status).to.equal(200);
  });

  it('answers 596 with an empty body', async () => {
    s.sim.setFault({ kind: 'status596', path: '/status/current$', count: 1 });
    const a = await call(s, 'GET', '/nodes/pve1/qemu/9000/status/current');
    expect(a.status).to.equal(596);
    expect(a.reason).to.equal('Connection timed out');
    expect(a.body).to.equal('');
  });

  it('drops the connection without an answer', async () => {
    s.sim.setFault({ kind: 'drop', path: '^/version$', count: 1 });
    let failed = false;
    try {
      await call(s, 'GET', '/version');
    } catch {
      failed = true;
    }
    expect(failed).to.equal(true);
    expect((await call(s, 'GET', '/version')).status).to.equal(200);
  });

  it('times out flocks of sync calls with PVE text', async () => {
    s.sim.setFault({ kind: 'lockTimeout', vmid: 9000, method: 'PUT', count: 1 });
    const a = await call(s, 'PUT', '/nodes/pve1/qemu/9000/config', { form: { description: 'x' } });
    expect(a.status).to.equal(500);
    expect(a.reason).to.equal("can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout");
  });

  it('fails tasks with the given exit status (failNextTask)', async () => {
    s.sim.failNextTask({ type: 'qmclone', message: 'clone failed: storage went away' });
    const a = await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', { form: { newid: '900' } });
    expect(a.status).to.equal(200);
    expect((await waitTask(s, a.json.data as string)).exitstatus).to.equal('clone failed: storage went away');
    const b = await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', { form: { newid: '901' } });
    expect((await waitTask(s, b.json.data as string)).exitstatus).to.equal('OK');
  });

  it('slows tasks down by a factor', async () => {
    const t0 = Date.now();
    await waitTask(s, (await call(s, 'POST', '/nodes/pve1/qemu/901/status/start')).json.data as string);
    const normal = Date.now() - t0;
    await waitTask(s, (await call(s, 'POST', '/nodes/pve1/qemu/901/status/stop')).json.data as string);
    s.sim.setFault({ kind: 'slowTask', taskType: 'qmstart', factor: 30 });
    const t1 = Date.now();
    await waitTask(s, (await call(s, 'POST', '/nodes/pve1/qemu/901/status/start')).json.data as string);
    expect(Date.now() - t1).to.be.at.least(Math.min(85, normal + 40)); // start takes 3-8 ms, x30
  });

  it('ends tasks with WARNINGS: 1 under warnTask (a success with warnings)', async () => {
    s.sim.setFault({ kind: 'warnTask', taskType: 'qmstop', message: 'volume is in use', count: 1 });
    const st = await waitTask(
      s,
      (await call(s, 'POST', '/nodes/pve1/qemu/901/status/stop')).json.data as string,
    );
    expect(st.exitstatus).to.equal('WARNINGS: 1');
    const log = (await call(s, 'GET', `/nodes/pve1/tasks/${st.upid as string}/log`)).json.data as Array<{
      t: string;
    }>;
    expect(log.map((l) => l.t)).to.deep.equal(['WARN: volume is in use', 'TASK WARNINGS: 1']);
  });

  it('draws rates deterministically from the seed', async () => {
    const pattern = async (): Promise<number[]> => {
      const sim = await fastSimulator({ seed: 42, world: { nodes: [{ name: 'pve1', ip: '10.0.0.11' }] } });
      sim.sim.setFault({ kind: 'error', path: '^/version$', rate: 0.5 });
      const out: number[] = [];
      for (let i = 0; i < 16; i++) out.push((await call(sim, 'GET', '/version')).status);
      await sim.close();
      return out;
    };
    const a = await pattern();
    expect(a).to.include(500).and.include(200);
    expect(await pattern()).to.deep.equal(a);
  });

  it('loads faults from the world', async () => {
    const sim = await fastSimulator({
      world: {
        nodes: [{ name: 'pve1', ip: '10.0.0.11' }],
        faults: [{ kind: 'error', path: '^/nodes$', status: 503, message: 'busy' }],
      },
    });
    expect((await call(sim, 'GET', '/nodes')).status).to.equal(503);
    await sim.close();
  });
});
