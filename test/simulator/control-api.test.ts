import { expect } from 'chai';
import type { RunningSimulator, VmView } from '../../controller/simulator/index.js';
import { call, control, fastSimulator, waitTask } from './helpers.js';

describe('simulator: /_sim control API', () => {
  let s: RunningSimulator;
  before(async () => {
    s = await fastSimulator({ resourcesLag: false }); // drift is read back from a fresh /cluster/resources
  });
  after(() => s.close());

  it('shows the state without PVE auth', async () => {
    const st = (await control(s, 'GET', '/state')).json as { nodes: unknown[]; vms: VmView[] };
    expect(st.nodes).to.have.length(3);
    expect(st.vms.map((v) => v.vmid)).to.deep.equal([9000]);
    expect(st.vms[0]).to.include({ name: 'worker-template', template: true, status: 'stopped' });
  });

  it('creates foreign VMs and edits configs behind the API (drift)', async () => {
    const f = await control(s, 'POST', '/vms', {
      vmid: 150,
      node: 'pve2',
      name: 'someone-else',
      tags: 'prod',
      running: true,
    });
    expect(f.status).to.equal(200);
    const res = (await call(s, 'GET', '/cluster/resources?type=vm')).json.data as Array<
      Record<string, unknown>
    >;
    expect(res.find((r) => r.vmid === 150)).to.include({
      name: 'someone-else',
      status: 'running',
      tags: 'prod',
      node: 'pve2',
    });
    const before = ((await call(s, 'GET', '/nodes/pve2/qemu/150/config')).json.data as { digest: string })
      .digest;
    const e = await control(s, 'POST', '/vms/150/config', {
      cores: 16,
      tags: 'Prod,Edited',
      description: null,
    });
    expect((e.json as VmView).tags).to.equal('edited;prod');
    const after = ((await call(s, 'GET', '/nodes/pve2/qemu/150/config')).json.data as { digest: string })
      .digest;
    expect(after).to.not.equal(before);
    expect((await control(s, 'POST', '/vms/150/power', { status: 'stopped' })).json).to.include({
      status: 'stopped',
    });
    expect((await control(s, 'DELETE', '/vms/150')).json).to.deep.equal({ removed: true });
  });

  it('adds, lists and clears faults; refuses invalid ones', async () => {
    const add = await control(s, 'POST', '/faults', [
      { kind: 'error', path: '^/version$', count: 1 },
      { kind: 'agentNever' },
    ]);
    expect((add.json as { ids: string[] }).ids).to.have.length(2);
    expect((await call(s, 'GET', '/version')).status).to.equal(500);
    expect((await control(s, 'GET', '/faults')).json).to.have.length(2);
    expect((await control(s, 'POST', '/faults', { kind: 'meteor' })).status).to.equal(400);
    await control(s, 'DELETE', '/faults');
    expect((await control(s, 'GET', '/faults')).json).to.deep.equal([]);
  });

  it('serves the call log, violations and stats', async () => {
    await control(s, 'DELETE', '/calls');
    await call(s, 'GET', '/version');
    await call(s, 'PUT', '/nodes/pve1/qemu/9000/config', { form: { onboot: 'yes' } });
    const calls = (await control(s, 'GET', '/calls')).json as Array<{
      endpoint: string;
      status: number;
      durationMs: number;
    }>;
    expect(calls.map((c) => [c.endpoint, c.status])).to.deep.equal([
      ['GET /version', 200],
      ['PUT /nodes/{node}/qemu/{vmid}/config', 400],
    ]);
    expect(calls[0].durationMs).to.be.a('number');
    expect((await control(s, 'GET', '/violations')).json).to.have.length(1);
    expect(
      ((await control(s, 'GET', '/stats')).json as { byEndpoint: Record<string, number> }).byEndpoint[
        'GET /version'
      ],
    ).to.equal(1);
  });

  it('crashes tasks, adds guest commands and changes settings', async () => {
    s.sim.setFault({ kind: 'slowTask', taskType: 'qmclone', factor: 50, count: 1 });
    const upid = (await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', { form: { newid: '160', full: '1' } }))
      .json.data as string;
    expect((await control(s, 'POST', `/tasks/${encodeURIComponent(upid)}/crash`)).json).to.deep.equal({
      crashed: true,
    });
    const crashedBy = Date.now();
    expect((await waitTask(s, upid)).exitstatus).to.equal('unexpected status');
    const task = (await control(s, 'GET', `/tasks/${encodeURIComponent(upid)}`)).json as {
      status: string;
      endedAt: number;
    };
    expect(task.status).to.equal('stopped');
    // When it ended, in real epoch ms (the reconcile benchmark times clone hand-overs with it).
    expect(task.endedAt).to.be.within(crashedBy - 1000, Date.now());
    expect((await control(s, 'POST', '/guest-commands', { pattern: '^x$', exitCode: 0 })).status).to.equal(
      200,
    );
    expect((await control(s, 'POST', '/settings', { resourcesLag: true })).json).to.include({
      resourcesLag: true,
    });
    expect((await control(s, 'GET', '/nope')).status).to.equal(404);
  });
});
