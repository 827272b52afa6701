import { expect } from 'chai';
import type { RunningSimulator } from '../../controller/simulator/index.js';
import { Latency } from '../../controller/simulator/latency.js';
import { createRng } from '../../controller/simulator/rng.js';
import { parseUpid, TaskManager } from '../../controller/simulator/tasks.js';
import { call, fastSimulator, rootTicket, until, waitTask } from './helpers.js';

describe('simulator: tasks (pve-manager PVE/API2/Tasks.pm, pve-common PVE/UPID.pm)', () => {
  let s: RunningSimulator;
  before(async () => {
    s = await fastSimulator();
  });
  after(() => s.close());

  it('reports task status with numeric pid/pstart/starttime, string id, user and tokenid', async () => {
    const upid = (await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', { form: { newid: '800' } })).json
      .data as string;
    const st = await waitTask(s, upid);
    expect(st).to.include({
      upid,
      node: 'pve1',
      type: 'qmclone',
      id: '9000',
      user: 'root@pam',
      tokenid: 'workerctl',
      status: 'stopped',
      exitstatus: 'OK',
    });
    expect(st.pid).to.be.a('number');
    expect(st.pstart).to.be.a('number');
    expect(st.starttime).to.be.a('number');
    expect(parseUpid(upid)?.type).to.equal('qmclone');
  });

  it('accepts raw and percent-encoded UPIDs in the path', async () => {
    const upid = (await call(s, 'POST', '/nodes/pve1/qemu/800/status/start')).json.data as string;
    await waitTask(s, upid);
    const rawPath = await fetch(`${s.url}/api2/json/nodes/pve1/tasks/${upid}/status`, {
      headers: { Authorization: `PVEAPIToken=${s.token}` },
    });
    expect(rawPath.status).to.equal(200);
    expect((await call(s, 'GET', `/nodes/pve1/tasks/${encodeURIComponent(upid)}/status`)).status).to.equal(
      200,
    );
  });

  it('pages the task log (start, limit default 50, total) and ends with TASK OK', async () => {
    const upid = (await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', { form: { newid: '801', full: '1' } }))
      .json.data as string;
    await waitTask(s, upid);
    const all = await call(s, 'GET', `/nodes/pve1/tasks/${encodeURIComponent(upid)}/log?limit=0`);
    const lines = all.json.data as Array<{ n: number; t: string }>;
    expect(all.json.total).to.equal(lines.length);
    expect(lines[0].n).to.equal(1);
    expect(lines[lines.length - 1].t).to.equal('TASK OK');
    const page = await call(s, 'GET', `/nodes/pve1/tasks/${encodeURIComponent(upid)}/log?start=1&limit=2`);
    expect((page.json.data as Array<{ n: number }>).map((l) => l.n)).to.deep.equal([2, 3]);
  });

  it('answers 400 errors.upid for unknown and unparsable UPIDs and for the wrong node', async () => {
    const bogus = 'UPID:pve1:00000001:00000001:00000001:qmstart:100:root@pam:';
    expect((await call(s, 'GET', `/nodes/pve1/tasks/${bogus}/status`)).json.errors).to.deep.equal({
      upid: 'no such task',
    });
    expect((await call(s, 'GET', '/nodes/pve1/tasks/garbage/status')).json.errors?.upid).to.match(
      /unable to parse/,
    );
    const upid = (await call(s, 'POST', '/nodes/pve1/qemu/800/status/stop')).json.data as string;
    await waitTask(s, upid);
    expect((await call(s, 'GET', `/nodes/pve2/tasks/${upid}/status`)).status).to.equal(400);
  });

  it('lists finished tasks of a node newest first, filtered by vmid and type, with total', async () => {
    const a = await call(s, 'GET', '/nodes/pve1/tasks?vmid=800&limit=2');
    const rows = a.json.data as Array<Record<string, unknown>>;
    expect(a.json.total).to.be.at.least(2);
    expect(rows).to.have.length(2);
    expect(rows[0].starttime as number).to.be.at.least(rows[1].starttime as number);
    for (const r of rows) expect(r).to.include({ id: '800', node: 'pve1', status: 'OK' });
    const clones = (await call(s, 'GET', '/nodes/pve1/tasks?typefilter=qmclone')).json.data as Array<{
      type: string;
    }>;
    expect(clones.every((t) => t.type === 'qmclone')).to.equal(true);
    expect((await call(s, 'GET', '/nodes/pve1/tasks?source=active')).json.data).to.deep.equal([]);
  });

  it('reports WARNINGS: n as the exit status when the task logged counted warnings', async () => {
    const tm = new TaskManager(new Latency('fast', 1, createRng(1)), () => 1);
    const t = tm.spawn({ node: 'pve1', type: 'qmstart', id: '100', user: 'root@pam' }, async (ctx) => {
      ctx.warn('one');
      ctx.warn('two');
    });
    await t.done;
    expect(t.exitstatus).to.equal('WARNINGS: 2');
    expect(t.log[t.log.length - 1]).to.equal('TASK WARNINGS: 2');
  });

  it('crashTask ends a task with "unexpected status" and leaves the clone lock behind; only root@pam can lift it', async () => {
    s.sim.setFault({ kind: 'slowTask', taskType: 'qmclone', factor: 50, count: 1 });
    const upid = (await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', { form: { newid: '802', full: '1' } }))
      .json.data as string;
    await until(() => s.sim.getVm(802) !== undefined);
    expect(s.sim.crashTask(upid)).to.equal(true);
    expect((await waitTask(s, upid)).exitstatus).to.equal('unexpected status');
    expect(s.sim.getVm(802)?.lock).to.equal('clone');
    const token = await call(s, 'PUT', '/nodes/pve1/qemu/802/config', { form: { delete: 'lock' } });
    expect(token.reason).to.equal('VM is locked (clone)');
    const root = await call(s, 'PUT', '/nodes/pve1/qemu/802/config', {
      form: { delete: 'lock', skiplock: '1' },
      headers: await rootTicket(s),
    });
    expect(root.status).to.equal(200);
    expect(s.sim.getVm(802)?.lock).to.equal(undefined);
  });
});
