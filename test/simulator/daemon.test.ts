/**
 * The pvedaemon pool and the guest agent's ping timeout: protected calls (the schema's `protected: 1`, as
 * pve-manager PVE/HTTPServer.pm rest_handler hands them to pvedaemon) run on the 3 workers of their node's
 * pvedaemon (pve-manager PVE/Service/pvedaemon.pm max_workers); an agent call to a guest whose agent does
 * not answer holds its worker for guest-ping's 3 s (qemu-server PVE/QemuServer/Agent.pm
 * qga_check_running, PVE/QMPClient.pm); pveproxy gives up after 30 s with 596 (pve-http-server
 * PVE/APIServer/AnyEvent.pm proxy_request).
 */
import { expect } from 'chai';
import type { RunningSimulator, WorldConfig } from '../../controller/simulator/index.js';
import { defaultWorld } from '../../controller/simulator/index.js';
import { call, fastSimulator, waitTask } from './helpers.js';

/** One PVE second is 40 real ms here: guest-ping's 3 s are 120 ms. */
function world(daemon?: WorldConfig['daemon']): WorldConfig {
  const w = defaultWorld();
  w.latencies = { secondMs: 40 };
  if (daemon) w.daemon = daemon;
  return w;
}

/** A running clone of the template on pve1 whose guest agent never answers. */
async function silentGuest(s: RunningSimulator, id: number): Promise<void> {
  await waitTask(
    s,
    (await call(s, 'POST', '/nodes/pve1/qemu/9000/clone', { form: { newid: String(id) } })).json
      .data as string,
  );
  await waitTask(s, (await call(s, 'POST', `/nodes/pve1/qemu/${id}/status/start`)).json.data as string);
  s.sim.setFault({ kind: 'agentNever', vmid: id });
}

/** Waits until the three pings hold all of pve1's workers (a fixed sleep races a loaded machine). */
async function pve1Busy(s: RunningSimulator): Promise<void> {
  for (let i = 0; i < 500 && s.sim.stats().daemon.byNode.pve1?.busy !== 3; i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  expect(s.sim.stats().daemon.byNode.pve1?.busy).to.equal(3);
}

const timed = async <T>(p: Promise<T>): Promise<[T, number]> => {
  const t0 = performance.now();
  const r = await p;
  return [r, performance.now() - t0];
};

describe('simulator: pvedaemon pool and agent ping (pve-manager PVE/Service/pvedaemon.pm, qemu-server PVE/QemuServer/Agent.pm)', () => {
  // Agent.pm assert_agent_available -> qga_check_running: mon_cmd guest-ping with timeout => 3
  it('answers "QEMU guest agent is not running" only after the 3 s guest-ping timeout; at once with agent 0 (qga_check_running)', async () => {
    const s = await fastSimulator({ world: world() });
    try {
      await silentGuest(s, 100);
      const [a, ms] = await timed(call(s, 'POST', '/nodes/pve1/qemu/100/agent/ping'));
      expect(a.status).to.equal(500);
      expect(a.reason).to.equal('QEMU guest agent is not running');
      expect(ms).to.be.at.least(110);
      // a running QEMU keeps the qga socket it started with: agent 0 takes effect at the next start
      await waitTask(s, (await call(s, 'POST', '/nodes/pve1/qemu/100/status/stop')).json.data as string);
      s.sim.editVmConfig(100, { agent: '0' });
      await waitTask(s, (await call(s, 'POST', '/nodes/pve1/qemu/100/status/start')).json.data as string);
      const [b, fast] = await timed(call(s, 'POST', '/nodes/pve1/qemu/100/agent/ping'));
      expect(b.reason).to.equal('QEMU guest agent is not running');
      expect(fast).to.be.below(60); // no qga socket: Monitor.pm qmp_cmd fails at once
    } finally {
      await s.close();
    }
  });

  // pvedaemon.pm max_workers => 3, per node: three waiting pings hold pve1's workers; a task status poll
  // (protected) on pve1 waits for one of them, on pve2 it does not; /version (not protected) never waits
  it('runs protected calls on 3 workers per node: three slow agent pings make pve1 task polling wait, not pve2 (pvedaemon.pm)', async () => {
    const s = await fastSimulator({ world: world() });
    try {
      await silentGuest(s, 100);
      const onPve2 = (await call(s, 'POST', '/nodes/pve2/qemu/555/status/stop')).json.data as string;
      const onPve1 = (await call(s, 'POST', '/nodes/pve1/qemu/555/status/stop')).json.data as string;
      await waitTask(s, onPve2);
      await waitTask(s, onPve1);
      const pings = [1, 2, 3].map(() => call(s, 'POST', '/nodes/pve1/qemu/100/agent/ping'));
      await pve1Busy(s);
      const [, blocked] = await timed(
        call(s, 'GET', `/nodes/pve1/tasks/${encodeURIComponent(onPve1)}/status`),
      );
      const [, free] = await timed(call(s, 'GET', `/nodes/pve2/tasks/${encodeURIComponent(onPve2)}/status`));
      const [, version] = await timed(call(s, 'GET', '/version'));
      await Promise.all(pings);
      expect(blocked).to.be.at.least(80);
      expect(free).to.be.below(60);
      expect(version).to.be.below(60);
      expect(s.sim.stats().daemon.byNode.pve1).to.deep.equal({ busy: 0, waiting: 0 });
    } finally {
      await s.close();
    }
  });

  // AnyEvent.pm proxy_request: timeout => 30 -> 596 while the pvedaemon worker keeps running
  it('answers 596 to a task status poll that gets no worker within the proxy timeout (proxy_request)', async () => {
    const s = await fastSimulator({ world: world({ proxyTimeoutSeconds: 2 }) });
    try {
      await silentGuest(s, 100);
      const upid = (await call(s, 'POST', '/nodes/pve1/qemu/555/status/stop')).json.data as string;
      await waitTask(s, upid);
      const pings = [1, 2, 3].map(() => call(s, 'POST', '/nodes/pve1/qemu/100/agent/ping'));
      await pve1Busy(s);
      const poll = await call(s, 'GET', `/nodes/pve1/tasks/${encodeURIComponent(upid)}/status`);
      expect(poll.status).to.equal(596);
      expect(poll.body).to.equal('');
      expect((await Promise.all(pings)).map((p) => p.status)).to.deep.equal([596, 596, 596]);
    } finally {
      await s.close();
    }
  });
});
