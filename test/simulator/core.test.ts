import { expect } from 'chai';
import type { RunningSimulator } from '../../controller/simulator/index.js';
import { call, fastSimulator, waitTask } from './helpers.js';

describe('simulator: core endpoints', () => {
  let s: RunningSimulator;
  before(async () => {
    s = await fastSimulator();
  });
  after(() => s.close());

  it('answers GET /version with the PVE envelope and headers', async () => {
    const a = await call(s, 'GET', '/version');
    expect(a.status).to.equal(200);
    expect((a.json.data as { release: string }).release).to.equal('9.1');
    expect(a.headers.get('server')).to.equal('pve-api-daemon/3.0');
    expect(a.headers.get('content-type')).to.equal('application/json;charset=UTF-8');
  });

  it('lists nodes and node storage with content filters', async () => {
    const nodes = (await call(s, 'GET', '/nodes')).json.data as Array<{
      node: string;
      ssl_fingerprint: string;
    }>;
    expect(nodes.map((n) => n.node)).to.deep.equal(['pve1', 'pve2', 'pve3']);
    const st = (await call(s, 'GET', '/nodes/pve2/storage?content=images&enabled=1')).json.data as Array<{
      storage: string;
      shared: number;
    }>;
    expect(st.map((x) => x.storage).sort()).to.deep.equal(['cephpool', 'local-lvm']);
  });

  it('returns nextid as a string and refuses a taken ?vmid= with errors.vmid', async () => {
    expect((await call(s, 'GET', '/cluster/nextid')).json.data).to.equal('100');
    const a = await call(s, 'GET', '/cluster/nextid?vmid=9000');
    expect(a.status).to.equal(400);
    expect(a.json.errors?.vmid).to.equal('VM 9000 already exists');
    expect(a.headers.get('connection')).to.equal('close');
  });

  it('clones the template to another node, configures, starts, stops and deletes the VM', async () => {
    const c = await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', {
      form: { newid: '201', name: 'w-201', target: 'pve2' },
    });
    expect(c.status).to.equal(200);
    const upid = c.json.data as string;
    expect(upid).to.match(/^UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:qmclone:9000:root@pam!workerctl:$/);
    expect((await waitTask(s, upid)).exitstatus).to.equal('OK');
    const put = await call(s, 'PUT', '/nodes/pve2/qemu/201/config', {
      form: { cores: '4', tags: 'Worker,k8s' },
    });
    expect(put.status).to.equal(200);
    expect(put.json.data).to.equal(null);
    const cfg = (await call(s, 'GET', '/nodes/pve2/qemu/201/config')).json.data as Record<string, unknown>;
    expect(cfg.cores).to.equal(4);
    expect(cfg.tags).to.equal('k8s;worker');
    expect(cfg.memory).to.equal('4096');
    const start = await call(s, 'POST', '/nodes/pve2/qemu/201/status/start');
    expect((await waitTask(s, start.json.data as string)).exitstatus).to.equal('OK');
    expect(s.sim.getVm(201)?.status).to.equal('running');
    const stop = await call(s, 'POST', '/nodes/pve2/qemu/201/status/stop');
    expect((await waitTask(s, stop.json.data as string)).exitstatus).to.equal('OK');
    const del = await call(s, 'DELETE', '/nodes/pve2/qemu/201?purge=1&destroy-unreferenced-disks=1');
    expect((await waitTask(s, del.json.data as string)).exitstatus).to.equal('OK');
    expect(s.sim.getVm(201)).to.equal(undefined);
    expect(s.sim.schemaViolations()).to.deep.equal([]);
  });
});
