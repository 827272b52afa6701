import { expect } from 'chai';
import type { RunningSimulator } from '../../controller/simulator/index.js';
import { call, fastSimulator, rootTicket, sleepMs, waitTask } from './helpers.js';

describe('simulator: power operations (qemu-server PVE/API2/Qemu.pm vm_start/vm_stop/vm_shutdown/vm_reboot)', () => {
  let s: RunningSimulator;
  let next = 600;
  before(async () => {
    s = await fastSimulator();
  });
  after(() => s.close());

  async function vm(): Promise<number> {
    const id = next++;
    await waitTask(
      s,
      (await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', { form: { newid: String(id) } })).json
        .data as string,
    );
    return id;
  }
  const power = async (id: number, op: string, form: Record<string, string> = {}) => {
    const a = await call(s, 'POST', `/nodes/pve1/qemu/${id}/status/${op}`, { form });
    expect(a.status, a.reason).to.equal(200);
    return waitTask(s, a.json.data as string);
  };

  it('reports status/current with agent = configured, not running', async () => {
    const id = await vm();
    const st = (await call(s, 'GET', `/nodes/pve1/qemu/${id}/status/current`)).json.data as Record<
      string,
      unknown
    >;
    expect(st).to.include({ vmid: id, status: 'stopped', qmpstatus: 'stopped', agent: 1 });
    expect(st.ha).to.deep.equal({ managed: 0 });
  });

  it('makes starting a running VM a task error, and stop/shutdown of a stopped VM OK', async () => {
    const id = await vm();
    expect((await power(id, 'stop')).exitstatus).to.equal('OK');
    expect((await power(id, 'shutdown')).exitstatus).to.equal('OK');
    expect((await power(id, 'start')).exitstatus).to.equal('OK');
    const again = await power(id, 'start');
    expect(again.exitstatus).to.equal(`VM ${id} already running`);
    expect((await call(s, 'GET', `/nodes/pve1/tasks/${again.upid as string}/log`)).json.data).to.deep.include(
      {
        n: 1,
        t: `TASK ERROR: VM ${id} already running`,
      },
    );
    expect((await power(id, 'shutdown')).exitstatus).to.equal('OK');
    expect(s.sim.getVm(id)?.status).to.equal('stopped');
  });

  it('fails a shutdown that times out without forceStop (VM keeps running), stops it with forceStop', async () => {
    const id = await vm();
    await power(id, 'start');
    s.sim.setFault({ kind: 'shutdownTimeout', vmid: id });
    expect((await power(id, 'shutdown', { timeout: '2' })).exitstatus).to.equal(
      'VM quit/powerdown failed - got timeout',
    );
    expect(s.sim.getVm(id)?.status).to.equal('running');
    expect((await power(id, 'shutdown', { timeout: '2', forceStop: '1' })).exitstatus).to.equal('OK');
    expect(s.sim.getVm(id)?.status).to.equal('stopped');
    s.sim.clearFaults();
  });

  it('holds the flock for the whole shutdown: a config update meanwhile gets "got timeout"', async () => {
    const id = await vm();
    await power(id, 'start');
    s.sim.setFault({ kind: 'shutdownTimeout', vmid: id });
    const sd = await call(s, 'POST', `/nodes/pve1/qemu/${id}/status/shutdown`, { form: { timeout: '30' } });
    await sleepMs(5);
    const put = await call(s, 'PUT', `/nodes/pve1/qemu/${id}/config`, { form: { description: 'x' } });
    expect(put.status).to.equal(500);
    expect(put.reason).to.equal(`can't lock file '/var/lock/qemu-server/lock-${id}.conf' - got timeout`);
    await waitTask(s, sd.json.data as string);
    s.sim.clearFaults();
  });

  it('ties up pvedaemon workers with slow sync calls: pveproxy answers 596 after its timeout', async () => {
    const world = (await import('../../controller/simulator/index.js')).defaultWorld();
    world.daemon = { workers: 1, proxyTimeoutSeconds: 5 };
    const d = await fastSimulator({ world });
    try {
      const c = await call(d, 'POST', '/nodes/pve1/qemu/9000/clone', { form: { newid: '100' } });
      await waitTask(d, c.json.data as string);
      await waitTask(d, (await call(d, 'POST', '/nodes/pve1/qemu/100/status/start')).json.data as string);
      d.sim.setFault({ kind: 'shutdownTimeout', vmid: 100 });
      const sd = await call(d, 'POST', '/nodes/pve1/qemu/100/status/shutdown', { form: { timeout: '30' } });
      await sleepMs(5);
      // the PUT waits for the flock (10 s) inside the only worker; the proxy gives up after 5 s
      const [put, other] = await Promise.all([
        call(d, 'PUT', '/nodes/pve1/qemu/100/config', { form: { description: 'x' } }),
        (async () => {
          await sleepMs(5);
          return call(d, 'GET', '/nodes/pve1/qemu/100/status/current');
        })(),
      ]);
      expect(put.status).to.equal(596);
      expect(other.status).to.equal(596);
      expect((await call(d, 'GET', '/version')).status).to.equal(200); // not protected: no worker needed
      await waitTask(d, sd.json.data as string);
    } finally {
      await d.close();
    }
  });

  it('refuses to reboot a stopped VM synchronously and to start a template', async () => {
    const id = await vm();
    const r = await call(s, 'POST', `/nodes/pve1/qemu/${id}/status/reboot`);
    expect(r.status).to.equal(500);
    expect(r.reason).to.equal(`VM ${id} not running`);
    expect((await power(9000, 'start')).exitstatus).to.equal("you can't start a vm if it's a template");
  });

  // qemu-server PVE/QemuServer.pm vm_start: check_lock unless skiplock; PVE/API2/Qemu.pm vm_start's
  // $get_root_param: skiplock is root@pam's only
  it('makes start of a config-locked VM a task error; skiplock only for root@pam (vm_start)', async () => {
    const id = await vm();
    s.sim.editVmConfig(id, { lock: 'backup' });
    expect((await power(id, 'start')).exitstatus).to.equal('VM is locked (backup)');
    const token = await call(s, 'POST', `/nodes/pve1/qemu/${id}/status/start`, { form: { skiplock: '1' } });
    expect(token.status).to.equal(400);
    expect(token.json.errors).to.deep.equal({ skiplock: 'Only root may use this option.' });
    const root = await call(s, 'POST', `/nodes/pve1/qemu/${id}/status/start`, {
      form: { skiplock: '1' },
      headers: await rootTicket(s),
    });
    expect((await waitTask(s, root.json.data as string)).exitstatus).to.equal('OK');
  });

  // qemu-server PVE/QemuServer.pm _do_vm_stop: check_running comes first and returns for a stopped VM,
  // before check_lock; a running locked VM fails on the lock
  it('stops or shuts down a stopped VM with OK even when it is locked; a running locked one fails (_do_vm_stop)', async () => {
    const id = await vm();
    s.sim.editVmConfig(id, { lock: 'backup' });
    expect((await power(id, 'stop')).exitstatus).to.equal('OK');
    expect((await power(id, 'shutdown')).exitstatus).to.equal('OK');
    s.sim.editVmConfig(id, { lock: null });
    await power(id, 'start');
    s.sim.editVmConfig(id, { lock: 'backup' });
    expect((await power(id, 'stop')).exitstatus).to.equal('VM is locked (backup)');
    expect((await power(id, 'shutdown')).exitstatus).to.equal('VM is locked (backup)');
    expect(s.sim.getVm(id)?.status).to.equal('running');
  });

  // PVE/API2/Qemu.pm vm_start/vm_stop/vm_shutdown check nothing of the VM before fork_worker; the task then
  // fails in QemuServer.pm vm_start (load_config) or _do_vm_stop (check_running ->
  // QemuConfig.pm assert_config_exists_on_node)
  it('answers start/stop/shutdown of a missing VM with a UPID whose task fails (vm_start, _do_vm_stop)', async () => {
    for (const op of ['stop', 'shutdown']) {
      const a = await call(s, 'POST', `/nodes/pve1/qemu/777/status/${op}`);
      expect(a.status).to.equal(200);
      expect((await waitTask(s, a.json.data as string)).exitstatus).to.equal(
        "unable to find configuration file for VM 777 on node 'pve1'",
      );
    }
    const start = await call(s, 'POST', '/nodes/pve1/qemu/777/status/start');
    expect(start.status).to.equal(200);
    expect((await waitTask(s, start.json.data as string)).exitstatus).to.equal(
      "Configuration file 'nodes/pve1/qemu-server/777.conf' does not exist",
    );
    // a VM that lives on another node is missing here too
    const other = await call(s, 'POST', '/nodes/pve2/qemu/9000/status/stop');
    expect((await waitTask(s, other.json.data as string)).exitstatus).to.equal(
      "unable to find configuration file for VM 9000 on node 'pve2'",
    );
  });

  it('turns power operations on HA-managed VMs into hastart/hastop tasks that finish before the state changes', async () => {
    const world = (await import('../../controller/simulator/index.js')).defaultWorld();
    world.latencies = { haDelay: 300 };
    const h = await fastSimulator({ world });
    try {
      const c = await call(h, 'POST', '/nodes/pve1/qemu', { form: { vmid: '690', 'ha-managed': '1' } });
      await waitTask(h, c.json.data as string);
      const a = await call(h, 'POST', '/nodes/pve1/qemu/690/status/start');
      const st = await waitTask(h, a.json.data as string);
      expect(st).to.include({ type: 'hastart', exitstatus: 'OK' });
      expect(h.sim.getVm(690)?.status).to.equal('stopped');
      for (let i = 0; i < 200 && h.sim.getVm(690)?.status !== 'running'; i++) await sleepMs(5);
      expect(h.sim.getVm(690)?.status).to.equal('running');
      const cur = (await call(h, 'GET', '/nodes/pve1/qemu/690/status/current')).json.data as Record<
        string,
        unknown
      >;
      expect(cur.ha).to.deep.equal({ managed: 1, state: 'started' });
    } finally {
      await h.close();
    }
  });
});
