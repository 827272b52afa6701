/**
 * The per-node API budget is a contract: a fleet converged against the simulator, then the
 * simulator's own request log (per node, arrival and answer times) held to the configured
 * concurrency and request-rate budget; the budget is shown by GET /v1/status and in the metrics.
 */
import { expect } from 'chai';
import { budgetOf, LOCAL_NODE } from '../../controller/proxmox/node-budget.js';
import type { CallRecord } from '../../controller/simulator/simulator.js';
import { AppEnv } from '../helpers/app-env.js';
import { workerYaml } from '../helpers/manifests.js';

/**
 * Server ms per real ms for the client: the rate window of one server second is 500 real ms, long
 * against the arrival jitter of a simulator sharing the test's event loop.
 */
const TIME_SCALE = 2;
const WINDOW_REAL_MS = 1000 / TIME_SCALE;
const CALLS_PER_NODE = 2;
const RATE_PER_NODE = 6;
/**
 * Arrival jitter: the client times a start before the server sees it, later when the shared event
 * loop is busy (up to ~30 ms seen on a loaded machine).
 */
const JITTER_MS = 60;

/** Most requests of one node arriving within any window of `windowMs`. */
function peakInWindow(calls: CallRecord[], windowMs: number): number {
  const t = calls.map((c) => c.startMs).sort((a, b) => a - b);
  let peak = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i]! - t[j]! >= windowMs) j++;
    peak = Math.max(peak, i - j + 1);
  }
  return peak;
}

/** Most protected calls of one node being answered at once. */
function peakInFlight(calls: CallRecord[]): number {
  const edges = calls.flatMap((c) => [
    [c.startMs, 1],
    [c.endMs, -1],
  ]);
  // An answer before an arrival at the same instant.
  edges.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let now = 0;
  let peak = 0;
  for (const [, d] of edges) peak = Math.max(peak, (now += d!));
  return peak;
}

describe('the per-node API budget, held against the simulator request log', function () {
  this.timeout(60_000);
  let env: AppEnv;

  afterEach(async () => {
    await env?.dispose();
  });

  it('a fleet converges without ever exceeding the calls in flight or the requests per second of any node', async () => {
    env = new AppEnv({
      clientOptions: {
        timeScale: TIME_SCALE,
        budget: { perNode: CALLS_PER_NODE, ratePerNode: RATE_PER_NODE },
      },
      controllerSettings: { resyncIntervalMs: 60_000 },
      lifecycle: {},
    });
    const docs: string[] = [];
    for (let i = 0; i < 9; i++) docs.push(workerYaml(`budget-${i}`, { host: `pve${(i % 3) + 1}` }));
    env.write('fleet.yaml', docs.join('---\n'));
    await env.start();
    await env.converged(30_000);
    const status = (await (await fetch(`${env.app.api!.url}/v1/status`)).json()) as {
      proxmox: {
        budget: {
          callsPerNode: number;
          requestsPerSecondPerNode: number;
          nodes: Record<string, { requests: number; rateWaits: { count: number } }>;
        };
      };
    };
    const metrics = await (await fetch(`${env.app.api!.url}/metrics`)).text();
    await env.app.stop(2000);

    const log = env.sim.sim.callLog();
    expect(log.length).to.be.greaterThan(50);
    const byNode = new Map<string, CallRecord[]>();
    for (const c of log) {
      const node = c.node ?? LOCAL_NODE;
      byNode.set(node, [...(byNode.get(node) ?? []), c]);
    }
    for (const [node, calls] of byNode) {
      const rate = peakInWindow(calls, WINDOW_REAL_MS - JITTER_MS);
      expect(rate, `${node}: requests within one server second`).to.be.at.most(RATE_PER_NODE);
      const guarded = calls.filter((c) => budgetOf(c.method, c.path));
      expect(peakInFlight(guarded), `${node}: protected calls in flight`).to.be.at.most(CALLS_PER_NODE);
    }
    // The limits were reached, not just unused: the rate budget made requests wait.
    const b = status.proxmox.budget;
    expect(b.callsPerNode).to.equal(CALLS_PER_NODE);
    expect(b.requestsPerSecondPerNode).to.equal(RATE_PER_NODE);
    expect(Object.values(b.nodes).some((u) => u.rateWaits.count > 0)).to.equal(true);
    expect(b.nodes.pve1!.requests).to.be.greaterThan(0);
    // The metrics: requests by node and endpoint template, and the waits.
    expect(metrics).to.match(
      /workerctl_proxmox_requests_total\{node="pve1",method="GET",endpoint="\/nodes\/\{node\}\/tasks"\} \d+/,
    );
    expect(metrics).to.match(/workerctl_proxmox_budget_waits_total\{node="pve\d",budget="rate"\} [1-9]/);
    expect(metrics).to.match(/workerctl_proxmox_budget_wait_seconds_total\{node="pve\d",budget="rate"\} /);
    expect(metrics).to.match(/workerctl_proxmox_budget_limit\{limit="requests_per_second"\} 6/);
  });
});
