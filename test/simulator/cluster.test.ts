/**
 * GET /cluster/status (pve-manager PVE/API2/Cluster.pm get_status), GET /nodes/{node}/tasks
 * (pve-manager PVE/API2/Tasks.pm node_tasks) and GET /cluster/tasks (PVE/API2/Cluster.pm tasks, fed by
 * pve-common PVE/RESTEnvironment.pm active_workers).
 */
import { expect } from 'chai';
import type { RunningSimulator } from '../../controller/simulator/index.js';
import { defaultWorld } from '../../controller/simulator/index.js';
import { call, fastSimulator, rootTicket, until, waitTask } from './helpers.js';

type Row = Record<string, unknown>;

describe('simulator: cluster status and task lists (pve-manager PVE/API2/Cluster.pm, PVE/API2/Tasks.pm)', () => {
  let s: RunningSimulator;
  let okClone: string;
  let failedStart: string;
  let ticketStop: string;
  let running: string;
  before(async () => {
    s = await fastSimulator();
    okClone = (await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', { form: { newid: '300' } })).json
      .data as string;
    await waitTask(s, okClone);
    failedStart = (await call(s, 'POST', '/nodes/pve1/qemu/777/status/start')).json.data as string;
    await waitTask(s, failedStart);
    const stop = await call(s, 'POST', '/nodes/pve1/qemu/300/status/stop', { headers: await rootTicket(s) });
    ticketStop = stop.json.data as string;
    await waitTask(s, ticketStop);
    s.sim.setFault({ kind: 'slowTask', taskType: 'qmclone', factor: 10000, count: 1 });
    running = (await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', { form: { newid: '301' } })).json
      .data as string;
  });
  after(() => s.close());

  const list = async (node: string, q = ''): Promise<{ rows: Row[]; total: number }> => {
    const a = await call(s, 'GET', `/nodes/${node}/tasks${q}`);
    expect(a.status, a.reason).to.equal(200);
    return { rows: a.json.data as Row[], total: a.json.total as number };
  };

  // get_status: a `cluster` entry, then `node` entries with nodeid, local, online and ip
  it('lists the cluster and each node with its ip in /cluster/status (get_status)', async () => {
    const st = (await call(s, 'GET', '/cluster/status')).json.data as Row[];
    expect(st[0]).to.deep.equal({
      type: 'cluster',
      id: 'cluster',
      nodes: 3,
      version: 4,
      name: 'simcluster',
      quorate: 1,
    });
    const nodes = st.filter((e) => e.type === 'node');
    expect(nodes.map((n) => [n.name, n.ip, n.local])).to.deep.equal([
      ['pve1', '10.0.0.11', 1],
      ['pve2', '10.0.0.12', 0],
      ['pve3', '10.0.0.13', 0],
    ]);
    expect(nodes[1]).to.include({ id: 'node/pve2', nodeid: 2, online: 1 });
    const single = defaultWorld();
    single.nodes = single.nodes.slice(0, 1);
    const one = await fastSimulator({ world: single });
    try {
      const only = (await call(one, 'GET', '/cluster/status')).json.data as Row[];
      expect(only).to.deep.equal([
        {
          type: 'node',
          id: 'node/pve1',
          name: 'pve1',
          nodeid: 0,
          local: 1,
          online: 1,
          ip: '10.0.0.11',
          level: '',
        },
      ]);
    } finally {
      await one.close();
    }
  });

  // node_tasks: source archive by default - the index read backwards, last finished first, with endtime/status
  it('lists finished tasks by default, last finished first, with endtime and status; the token split off (node_tasks)', async () => {
    const { rows, total } = await list('pve1');
    expect(rows.map((r) => r.upid)).to.deep.equal([ticketStop, failedStart, okClone]);
    expect(total).to.equal(3);
    expect(rows[1]).to.include({
      type: 'qmstart',
      id: '777',
      user: 'root@pam',
      tokenid: 'workerctl',
      status: "Configuration file 'nodes/pve1/qemu-server/777.conf' does not exist",
    });
    expect(rows[1].endtime).to.be.a('number');
    expect(rows[1].pstart).to.be.a('number');
    expect(rows[0]).to.not.have.any.keys('tokenid');
    expect((await list('pve2')).rows).to.deep.equal([]);
  });

  it('lists running tasks with source=active (status RUNNING, no pstart) and both with source=all (node_tasks)', async () => {
    const active = await list('pve1', '?source=active');
    expect(active.rows).to.have.length(1);
    expect(active.rows[0]).to.include({ upid: running, status: 'RUNNING', type: 'qmclone', id: '9000' });
    expect(active.rows[0]).to.not.have.any.keys('pstart', 'endtime');
    const all = await list('pve1', '?source=all');
    expect(all.rows.map((r) => r.upid)).to.deep.equal([running, ticketStop, failedStart, okClone]);
  });

  // node_tasks' filters: typefilter, vmid, userfilter (substring, any case), statusfilter, errors, start/limit
  it('filters by type, vmid, user, status (a running task is "unknown") and errors; pages with start/limit and total (node_tasks)', async () => {
    expect((await list('pve1', '?typefilter=qmclone')).rows.map((r) => r.upid)).to.deep.equal([okClone]);
    expect((await list('pve1', '?vmid=777')).rows.map((r) => r.upid)).to.deep.equal([failedStart]);
    expect(
      (await list('pve1', '?source=all&typefilter=qmclone&vmid=9000')).rows.map((r) => r.upid),
    ).to.deep.equal([running, okClone]);
    expect((await list('pve1', '?userfilter=ROOT')).total).to.equal(3);
    expect((await list('pve1', '?userfilter=nobody')).total).to.equal(0);
    expect((await list('pve1', '?statusfilter=error')).rows.map((r) => r.upid)).to.deep.equal([failedStart]);
    expect((await list('pve1', '?source=all&statusfilter=ok')).rows.map((r) => r.upid)).to.deep.equal([
      ticketStop,
      okClone,
    ]);
    expect((await list('pve1', '?source=all&statusfilter=unknown')).rows.map((r) => r.upid)).to.deep.equal([
      running,
    ]);
    expect((await list('pve1', '?source=all&errors=1')).rows.map((r) => r.upid)).to.deep.equal([
      running,
      failedStart,
    ]);
    const page = await list('pve1', '?start=1&limit=1');
    expect(page.rows.map((r) => r.upid)).to.deep.equal([failedStart]);
    expect(page.total).to.equal(3);
    const starttime = (page.rows[0].starttime as number) + 3600;
    expect((await list('pve1', `?since=${starttime}`)).total).to.equal(0);
    expect((await list('pve1', `?until=${starttime}`)).total).to.equal(3);
  });

  // Cluster.pm tasks: each node's broadcast list - running tasks, then recent finished ones with saved
  it("lists every node's running and recent tasks in /cluster/tasks (Cluster.pm tasks, active_workers)", async () => {
    const other = (await call(s, 'POST', '/nodes/pve3/qemu/555/status/stop')).json.data as string;
    await waitTask(s, other);
    const rows = (await call(s, 'GET', '/cluster/tasks')).json.data as Row[];
    const byUpid = new Map(rows.map((r) => [r.upid, r]));
    expect(byUpid.get(running)).to.include({
      node: 'pve1',
      type: 'qmclone',
      user: 'root@pam',
      tokenid: 'workerctl',
    });
    expect(byUpid.get(running)).to.not.have.any.keys('status', 'endtime', 'pstart');
    expect(byUpid.get(failedStart)).to.include({
      saved: 1,
      status: "Configuration file 'nodes/pve1/qemu-server/777.conf' does not exist",
    });
    expect(byUpid.get(failedStart)).to.not.have.any.keys('pid', 'pstart');
    expect(byUpid.get(other)).to.include({
      node: 'pve3',
      status: "unable to find configuration file for VM 555 on node 'pve3'",
    });
    s.sim.crashTask(running);
    await until(() => s.sim.task(running)?.status === 'stopped');
  });
});
