/** Wire-level: exactly what the client puts on the wire for each operation. */
import { expect } from 'chai';
import { createProxmoxClient, type HttpProxmoxClient } from '../../controller/proxmox/http-client.js';
import {
  FAST,
  TEST_TOKEN,
  UPID_CLONE,
  ok,
  startWireServer,
  type WireServer,
} from '../helpers/wire-server.js';

const UPID_START = 'UPID:pve1:00001234:00006AE8:679A423C:qmstart:101:workerctl@pve!ci:';

describe('proxmox client: request encoding', () => {
  let server: WireServer;
  let client: HttpProxmoxClient;

  beforeEach(async () => {
    server = await startWireServer((req, res) => {
      if (req.method === 'GET') return ok(res, {});
      ok(res, UPID_START);
    });
    client = createProxmoxClient({ url: server.url, auth: { kind: 'token', token: TEST_TOKEN }, ...FAST });
  });
  afterEach(async () => {
    client.close();
    await server.close();
  });

  const last = () => server.requests[server.requests.length - 1]!;

  it('sends PUT config as a form body with booleans as 1/0, the delete list and the digest', async () => {
    await client.updateConfig('pve1', 101, {
      set: { cores: 4, onboot: true, protection: false, name: 'worker-1', tags: 'a;b' },
      delete: ['ide2', 'net1'],
      digest: 'abc123',
    });
    const r = last();
    expect(r.method).to.equal('PUT');
    expect(r.path).to.equal('/nodes/pve1/qemu/101/config');
    expect(r.headers['content-type']).to.equal('application/x-www-form-urlencoded');
    expect(r.headers['transfer-encoding']).to.equal(undefined);
    expect(r.query).to.equal('');
    expect(r.body).to.equal(
      'cores=4&onboot=1&protection=0&name=worker-1&tags=a%3Bb&delete=ide2%2Cnet1&digest=abc123',
    );
  });

  it('double-encodes sshkeys: percent-encoded text (%20, never +), then form-encoded (%2520)', async () => {
    const keys = 'ssh-ed25519 AAAAC3Nz user@host\nssh-rsa AAAAB3 other: comment';
    await client.updateConfig('pve1', 101, { set: { sshkeys: keys } });
    const body = last().body;
    expect(body).to.equal(
      'sshkeys=ssh-ed25519%2520AAAAC3Nz%2520user%2540host%250Assh-rsa%2520AAAAB3%2520other%253A%2520comment',
    );
    // What PVE's form decoder yields is its strict urlencoded format, which decodes back to the keys.
    const once = new URLSearchParams(body).get('sshkeys')!;
    expect(once).to.match(/^[-%a-zA-Z0-9_.!~*'()]*$/);
    expect(decodeURIComponent(once)).to.equal(keys);
  });

  it('sends the agent exec command as repeated command fields', async () => {
    server.handler = (_req, res) => ok(res, { pid: 42 });
    const pid = await client.agentExec('pve1', 101, ['/bin/sh', '-c', 'echo hi there'], 'stdin');
    expect(pid).to.equal(42);
    expect(last().body).to.equal('command=%2Fbin%2Fsh&command=-c&command=echo+hi+there&input-data=stdin');
  });

  it('puts DELETE parameters in the query and sends no body', async () => {
    await client.deleteVm('pve1', 101, { purge: true, destroyUnreferencedDisks: true });
    const r = last();
    expect(r.method).to.equal('DELETE');
    expect(r.path).to.equal('/nodes/pve1/qemu/101');
    expect(r.query).to.equal('purge=1&destroy-unreferenced-disks=1');
    expect(r.body).to.equal('');
    expect(r.headers['content-type']).to.equal(undefined);
    expect(r.headers['content-length'] ?? '0').to.equal('0');
  });

  it('sends GET parameters in the query and no body', async () => {
    await client.getConfig('pve1', 101, { current: true });
    const r = last();
    expect(r.url).to.equal('/api2/json/nodes/pve1/qemu/101/config?current=1');
    expect(r.body).to.equal('');
    expect(r.headers['transfer-encoding']).to.equal(undefined);
    await client.getConfig('pve1', 101);
    expect(last().query).to.equal('');
  });

  it('percent-encodes the UPID in task paths and uses the node named in the UPID', async () => {
    server.handler = (_req, res) =>
      ok(res, { status: 'running', upid: UPID_CLONE, type: 'qmclone', id: '9000' });
    await client.taskStatus({ upid: UPID_CLONE, node: 'elsewhere' });
    expect(last().path).to.equal(
      '/nodes/elsewhere/tasks/UPID%3Apve1%3A00000ACD%3A00006AE8%3A679A423B%3Aqmclone%3A9000%3Aworkerctl%40pve!ci%3A/status',
    );
    server.handler = (_req, res) => ok(res, UPID_CLONE);
    const task = await client.clone('pve2', 9000, {
      newid: 150,
      name: 'w-1',
      full: true,
      storage: 'local-lvm',
    });
    expect(task).to.deep.equal({ upid: UPID_CLONE, node: 'pve1' });
    expect(last().body).to.equal('newid=150&name=w-1&full=1&storage=local-lvm');
  });

  it('encodes every operation with only schema parameters', async () => {
    await client.start('pve1', 101);
    expect(last()).to.include({ method: 'POST', path: '/nodes/pve1/qemu/101/status/start', body: '' });
    expect(last().headers['content-length']).to.equal('0');
    await client.shutdown('pve1', 101, { timeout: 30, forceStop: true });
    expect(last()).to.include({
      path: '/nodes/pve1/qemu/101/status/shutdown',
      body: 'timeout=30&forceStop=1',
    });
    await client.stop('pve1', 101);
    expect(last()).to.include({ path: '/nodes/pve1/qemu/101/status/stop', body: '' });
    await client.reboot('pve1', 101);
    expect(last()).to.include({ path: '/nodes/pve1/qemu/101/status/reboot', body: '' });
    await client.resizeDisk('pve1', 101, 'scsi0', '+10G');
    expect(last()).to.include({
      method: 'PUT',
      path: '/nodes/pve1/qemu/101/resize',
      body: 'disk=scsi0&size=%2B10G',
    });
    await client.updateConfigAsync('pve1', 101, { set: { memory: 4096 } });
    expect(last()).to.include({ method: 'POST', path: '/nodes/pve1/qemu/101/config', body: 'memory=4096' });
    await client.create('pve1', 120, { name: 'w', memory: 2048, agent: true, net0: 'virtio,bridge=vmbr0' });
    expect(last()).to.include({
      method: 'POST',
      path: '/nodes/pve1/qemu',
      body: 'vmid=120&name=w&memory=2048&agent=1&net0=virtio%2Cbridge%3Dvmbr0',
    });
    server.handler = (_req, res) => ok(res, { result: {} });
    await client.agentPing('pve1', 101);
    expect(last()).to.include({ method: 'POST', path: '/nodes/pve1/qemu/101/agent/ping', body: '' });
    server.handler = (_req, res) => ok(res, { exited: 0 });
    await client.agentExecStatus('pve1', 101, 7);
    expect(last()).to.include({
      method: 'GET',
      path: '/nodes/pve1/qemu/101/agent/exec-status',
      query: 'pid=7',
    });
    server.handler = (_req, res) => ok(res, []);
    await client.storages('pve1', { content: 'images', enabled: true });
    expect(last()).to.include({ path: '/nodes/pve1/storage', query: 'content=images&enabled=1' });
    await client.vmResources();
    expect(last()).to.include({ path: '/cluster/resources', query: 'type=vm' });
    await client.taskLog({ upid: UPID_START, node: 'pve1' }, { start: 0, limit: 50 });
    expect(last().query).to.equal('start=0&limit=50');
    server.handler = (_req, res) => ok(res, '150');
    expect(await client.nextId(150)).to.equal(150);
    expect(last()).to.include({ path: '/cluster/nextid', query: 'vmid=150' });
  });

  it('percent-encodes node names in paths', async () => {
    server.handler = (_req, res) => ok(res, []);
    await client.storages('pve 1/x');
    expect(last().path).to.equal('/nodes/pve%201%2Fx/storage');
  });

  it('accepts an origin or an /api2/json base url', async () => {
    const c2 = createProxmoxClient({
      url: `${server.url}/api2/json/`,
      auth: { kind: 'token', token: TEST_TOKEN },
    });
    try {
      server.handler = (_req, res) => ok(res, { version: '9.1.2', release: '9.1' });
      expect(await c2.version()).to.deep.equal({ version: '9.1.2', release: '9.1' });
      expect(last().url).to.equal('/api2/json/version');
    } finally {
      c2.close();
    }
  });
});
