/**
 * The node budget against the simulator's pvedaemon pool (pve-manager PVE/Service/pvedaemon.pm:
 * 3 workers per node; a silent guest agent holds one for guest-ping's 3 s, qemu-server
 * PVE/QemuServer/Agent.pm): a client that keeps its budget never makes the node queue its calls, so
 * pveproxy never answers 596 (pve-http-server PVE/APIServer/AnyEvent.pm proxy_request); one without it does.
 */
import { expect } from 'chai';
import { createProxmoxClient } from '../../controller/proxmox/http-client.js';
import { NodeBudget } from '../../controller/proxmox/node-budget.js';
import { startSimulator, type RunningSimulator } from '../../controller/simulator/index.js';

describe('proxmox node budget against the pvedaemon pool (simulator)', function () {
  this.timeout(30_000);
  let sim: RunningSimulator;
  afterEach(async () => sim?.close());

  /** 24 pings at a silent agent and 12 status reads, all at once on pve1; the pool's worst queue. */
  async function burst(budget: NodeBudget): Promise<{ queued: number; failed: number }> {
    sim = await startSimulator({ latency: 'fast', authFailureDelayMs: 0 });
    const vm = sim.sim.createForeignVm({
      vmid: 700,
      node: 'pve1',
      name: 'silent',
      running: true,
      config: { agent: '1' },
    });
    sim.sim.setFault({ kind: 'agentNever', vmid: vm.vmid });
    const client = createProxmoxClient({
      url: sim.url,
      auth: { kind: 'token', token: sim.token },
      budget,
      retry: { getRetries: 0 },
    });
    let queued = 0;
    const sampler = setInterval(() => {
      queued = Math.max(queued, sim.sim.stats().daemon.byNode.pve1?.waiting ?? 0);
    }, 1);
    const calls = [
      ...Array.from({ length: 24 }, () => client.agentPing('pve1', 700)),
      ...Array.from({ length: 12 }, () => client.status('pve1', 700)),
    ];
    const results = await Promise.allSettled(calls);
    clearInterval(sampler);
    client.close();
    const failed = results.filter(
      (r) => r.status === 'rejected' && !/agent is not running/i.test(String(r.reason)),
    ).length;
    return { queued, failed };
  }

  it('with the default budget (3 calls, 1 agent call per node) the node never queues a call', async () => {
    const r = await burst(new NodeBudget());
    expect(r).to.deep.equal({ queued: 0, failed: 0 });
  });

  it('without a budget the same burst queues in pvedaemon (the test can fail)', async () => {
    const r = await burst(new NodeBudget({ perNode: 0, agentPerNode: 0 }));
    expect(r.queued).to.be.greaterThan(0);
  });
});
