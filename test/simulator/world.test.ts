import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  loadWorldFile,
  scaledWorld,
  startSimulator,
  WorldFileError,
} from '../../controller/simulator/index.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { call, fastSimulator, sleepMs, waitTask } from './helpers.js';

const WORLD = `
clusterName: lab
nodes:
  - {name: alpha, ip: 192.168.1.10, cpus: 8, memoryGiB: 64}
  - {name: beta, ip: 192.168.1.11}
storages:
  - {id: local-lvm, type: lvmthin, content: [images, rootdir]}
  - {id: nfs-shared, type: nfs, content: [images], shared: true, bandwidthGiBps: 0.5}
pools: [lab]
templates:
  - vmid: 8000
    node: alpha
    name: tmpl
    template: true
    storage: nfs-shared
    disk: {size: 20, used: 5}
    config: {agent: '1', net0: 'virtio,bridge=vmbr0'}
vms:
  - {vmid: 300, node: beta, name: foreign, running: true, tags: 'Other'}
network:
  backupServer: 192.168.1.50
latencies:
  start: 1
agentBootMs: 1
`;

describe('simulator: worlds, start-up and /cluster/resources (pve-manager PVE/API2/Cluster.pm resources)', () => {
  let dir: { path: string; remove(): void } | undefined;
  afterEach(() => dir?.remove());

  it('loads a YAML world file', async () => {
    const tmp = makeTempDir();
    dir = tmp;
    const file = join(tmp.path, 'world.yaml');
    writeFileSync(file, WORLD);
    const s = await startSimulator({ world: file });
    try {
      const nodes = (await call(s, 'GET', '/nodes')).json.data as Array<{ node: string }>;
      expect(nodes.map((n) => n.node)).to.deep.equal(['alpha', 'beta']);
      const vms = (await call(s, 'GET', '/cluster/resources?type=vm')).json.data as Array<
        Record<string, unknown>
      >;
      expect(vms.map((v) => v.vmid)).to.deep.equal([300, 8000]);
      const c = await call(s, 'POST', '/nodes/alpha/qemu/8000/clone', {
        form: { newid: '301', target: 'beta' },
      });
      expect((await waitTask(s, c.json.data as string)).exitstatus).to.equal('OK');
      expect(s.sim.getVm(301)?.node).to.equal('beta');
    } finally {
      await s.close();
    }
  });

  it('names file:line:col for a bad world file', () => {
    const tmp = makeTempDir();
    dir = tmp;
    const file = join(tmp.path, 'bad.yaml');
    writeFileSync(file, 'nodes:\n  - name: a\n    ip: 1.2.3.4\n    colour: red\n');
    expect(() => loadWorldFile(file)).to.throw(WorldFileError, /bad\.yaml:4:5: .*unknown key 'colour'/);
    writeFileSync(file, 'nodes: [\n');
    expect(() => loadWorldFile(file)).to.throw(WorldFileError, /bad\.yaml:\d+:\d+/);
  });

  it('starts in well under a second, also with 10 nodes and 10,000 VMs', async () => {
    let t0 = performance.now();
    const small = await startSimulator();
    const smallMs = performance.now() - t0;
    await small.close();
    t0 = performance.now();
    const big = await startSimulator({ world: scaledWorld(10, 10000) });
    const bigMs = performance.now() - t0;
    try {
      expect(smallMs).to.be.below(1000);
      expect(bigMs).to.be.below(3000);
      const res = (await call(big, 'GET', '/cluster/resources?type=vm')).json.data as unknown[];
      expect(res).to.have.length(10001);
    } finally {
      await big.close();
    }
  });

  it('lists /cluster/resources in string order of vmid with numeric vmids', async () => {
    const s = await fastSimulator();
    try {
      for (const id of [101, 1000, 100]) s.sim.createForeignVm({ vmid: id, node: 'pve1', name: `v${id}` });
      const ids = (
        (await call(s, 'GET', '/cluster/resources?type=vm')).json.data as Array<{ vmid: number }>
      ).map((v) => v.vmid);
      expect(ids).to.deep.equal([100, 1000, 101, 9000]);
      const all = (await call(s, 'GET', '/cluster/resources')).json.data as Array<{ type: string }>;
      expect(new Set(all.map((e) => e.type))).to.deep.equal(new Set(['qemu', 'node', 'storage', 'pool']));
      const list = (await call(s, 'GET', '/nodes/pve1/qemu')).json.data as Array<{
        vmid: number;
        name: string;
      }>;
      expect(list.find((v) => v.vmid === 100)?.name).to.equal('v100');
    } finally {
      await s.close();
    }
  });

  it('shows fresh VMs as status unknown without name while the resources lag is on; /nodes/{node}/qemu is fresh', async () => {
    const s = await fastSimulator({ resourcesLag: true });
    try {
      const c = await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', {
        form: { newid: '200', name: 'lagged' },
      });
      await waitTask(s, c.json.data as string);
      const entry = async () =>
        (
          (await call(s, 'GET', '/cluster/resources?type=vm')).json.data as Array<Record<string, unknown>>
        ).find((v) => v.vmid === 200);
      const fresh = await entry();
      expect(fresh).to.include({ status: 'unknown', vmid: 200, node: 'pve1' });
      expect(fresh).to.not.have.property('name');
      const list = (await call(s, 'GET', '/nodes/pve1/qemu')).json.data as Array<{
        vmid: number;
        name: string;
        status: string;
      }>;
      expect(list.find((v) => v.vmid === 200)).to.include({ name: 'lagged', status: 'stopped' });
      await sleepMs(220);
      expect(await entry()).to.include({ status: 'stopped', name: 'lagged' });
    } finally {
      await s.close();
    }
  });
});
