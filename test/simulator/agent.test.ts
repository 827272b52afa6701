import { expect } from 'chai';
import type { RunningSimulator } from '../../controller/simulator/index.js';
import { call, fastSimulator, sleepMs, waitTask } from './helpers.js';

describe('simulator: guest agent and guest commands (qemu-server PVE/API2/Qemu/Agent.pm, PVE/QemuServer/Agent.pm)', () => {
  let s: RunningSimulator;
  let next = 700;
  before(async () => {
    s = await fastSimulator({
      world: {
        ...(await import('../../controller/simulator/index.js')).defaultWorld(),
        network: {
          backupServer: '10.0.0.50',
          unreachable: ['10.0.0.99'],
          dhcp: { vmbr0: '10.0.0.0/24', 'vmbr0.20': '10.20.0.0/24' },
        },
      },
    });
  });
  after(() => s.close());

  async function running(form: Record<string, string> = {}): Promise<number> {
    const id = next++;
    await waitTask(
      s,
      (await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', { form: { newid: String(id) } })).json
        .data as string,
    );
    if (Object.keys(form).length) await call(s, 'PUT', `/nodes/pve1/qemu/${id}/config`, { form });
    await waitTask(s, (await call(s, 'POST', `/nodes/pve1/qemu/${id}/status/start`)).json.data as string);
    return id;
  }
  async function agentUp(id: number): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if ((await call(s, 'POST', `/nodes/pve1/qemu/${id}/agent/ping`)).status === 200) return;
      await sleepMs(2);
    }
    throw new Error('agent never came up');
  }
  async function exec(id: number, command: string[]): Promise<Record<string, unknown>> {
    const a = await call(s, 'POST', `/nodes/pve1/qemu/${id}/agent/exec`, { form: { command } });
    expect(a.status, a.reason).to.equal(200);
    const pid = (a.json.data as { pid: number }).pid;
    for (;;) {
      const st = (await call(s, 'GET', `/nodes/pve1/qemu/${id}/agent/exec-status?pid=${pid}`)).json
        .data as Record<string, unknown>;
      if (st.exited === 1) return st;
      expect(st.exited).to.equal(0);
      await sleepMs(2);
    }
  }

  // qemu-server PVE/QemuServer/Agent.pm assert_agent_available: the guest-ping (3 s) fails while the
  // guest's agent is not up yet
  it('answers "QEMU guest agent is not running" while the guest agent is not up, then pings', async () => {
    const id = await running();
    const fault = s.sim.setFault({ kind: 'agentNever', vmid: id });
    const early = await call(s, 'POST', `/nodes/pve1/qemu/${id}/agent/ping`);
    expect(early.status).to.equal(500);
    expect(early.reason).to.equal('QEMU guest agent is not running');
    s.sim.removeFault(fault);
    await agentUp(id);
    expect((await call(s, 'POST', `/nodes/pve1/qemu/${id}/agent/ping`)).json.data).to.deep.equal({
      result: {},
    });
  });

  it('distinguishes "No QEMU guest agent configured" and "VM x is not running"', async () => {
    const c = await call(s, 'POST', '/nodes/pve2/qemu', { form: { vmid: '790' } });
    await waitTask(s, c.json.data as string);
    expect((await call(s, 'POST', '/nodes/pve2/qemu/790/agent/ping')).reason).to.equal(
      'No QEMU guest agent configured',
    );
    expect((await call(s, 'POST', '/nodes/pve1/qemu/9000/agent/ping')).reason).to.equal(
      'VM 9000 is not running',
    );
  });

  it('reports static addresses from ipconfig and DHCP leases on the VLAN subnet', async () => {
    const id = await running({
      ipconfig0: 'ip=10.0.0.42/24,gw=10.0.0.1',
      net1: 'virtio,bridge=vmbr0,tag=20',
    });
    await agentUp(id);
    const res = (
      (await call(s, 'GET', `/nodes/pve1/qemu/${id}/agent/network-get-interfaces`)).json.data as {
        result: Array<Record<string, unknown>>;
      }
    ).result;
    const eth0 = res.find((i) => i.name === 'eth0') as {
      'ip-addresses': Array<Record<string, unknown>>;
      'hardware-address': string;
    };
    const eth1 = res.find((i) => i.name === 'eth1') as { 'ip-addresses': Array<Record<string, unknown>> };
    expect(eth0['ip-addresses'][0]).to.deep.equal({
      'ip-address': '10.0.0.42',
      'ip-address-type': 'ipv4',
      prefix: 24,
    });
    expect(String(eth1['ip-addresses'][0]['ip-address'])).to.match(/^10\.20\.0\.\d+$/);
    expect(eth0['hardware-address']).to.equal(
      s.sim.getVm(id)?.config.net0.split(',')[0].split('=')[1].toLowerCase(),
    );
  });

  it('runs pings against the world: nodes and the backup server answer, unreachable hosts do not', async () => {
    const id = await running();
    await agentUp(id);
    expect(await exec(id, ['ping', '-c', '1', '10.0.0.50'])).to.include({ exited: 1, exitcode: 0 });
    expect(await exec(id, ['ping', '-c', '1', '10.0.0.12'])).to.include({ exitcode: 0 });
    expect(await exec(id, ['ping', '-c', '1', '10.0.0.99'])).to.include({ exitcode: 1 });
    expect(await exec(id, ['ping', '-c', '1', '192.0.2.1'])).to.include({ exitcode: 1 });
  });

  it('runs the update command (with proxy env), true, ip -4 addr and answers 127 for unknown commands', async () => {
    const id = await running();
    await agentUp(id);
    const upd = await exec(id, ['sh', '-c', 'https_proxy=http://proxy:3128 dnf -y upgrade']);
    expect(upd.exitcode).to.equal(0);
    expect(upd['out-data']).to.contain('Complete!');
    expect(await exec(id, ['true'])).to.include({ exitcode: 0 });
    expect(String((await exec(id, ['ip', '-4', 'addr']))['out-data'])).to.contain('inet 10.0.0.');
    const unknown = await exec(id, ['frobnicate']);
    expect(unknown.exitcode).to.equal(127);
    expect(unknown['err-data']).to.contain('command not found');
  });

  it('uses custom guest command entries (setGuestCommand and the control API)', async () => {
    const id = await running();
    await agentUp(id);
    s.sim.setGuestCommand('^veeam-check$', { exitCode: 3, stdout: 'degraded\n', durationMs: 1 });
    expect(await exec(id, ['veeam-check'])).to.include({ exitcode: 3, 'out-data': 'degraded\n' });
  });

  it('passes the configured check with agent: 0 but never answers', async () => {
    const id = await running({ agent: '0' });
    await sleepMs(80);
    expect((await call(s, 'POST', `/nodes/pve1/qemu/${id}/agent/ping`)).reason).to.equal(
      'QEMU guest agent is not running',
    );
  });

  it('never brings the agent up under the agentNever fault', async () => {
    s.sim.setFault({ kind: 'agentNever', vmid: next });
    const id = await running();
    await sleepMs(80);
    expect((await call(s, 'POST', `/nodes/pve1/qemu/${id}/agent/ping`)).reason).to.equal(
      'QEMU guest agent is not running',
    );
    s.sim.clearFaults();
    expect((await call(s, 'POST', `/nodes/pve1/qemu/${id}/agent/ping`)).status).to.equal(200);
  });
});
