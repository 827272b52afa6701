/**
 * Requests per deployed worker (issue 14: reads shared across workers, one config write per deploy),
 * counted by the simulator itself: three Eager workers on three nodes, the template on pve1 only
 * (pve1's worker a local clone, pve2's and pve3's the cross-node path: clone to the shared storage,
 * then move_disk), as scenario (a) of bench/api-economy.bench.ts. Task waits (GET /nodes/{node}/tasks
 * and …/tasks/{upid}/status, task-watch.ts) are counted apart: their number follows the task's
 * duration, not the deploy's reads and writes held here.
 */
import { expect } from 'chai';
import { AppEnv } from '../helpers/app-env.js';
import { workerYaml } from '../helpers/manifests.js';

/** What the deploy promises per worker, task waits apart (see the file comment). */
const PER_WORKER = {
  /** The deploy's one config write (tags, cores, memory, NICs ... together). */
  'PUT /nodes/{node}/qemu/{vmid}/config': 1,
  /** The clone. */
  'POST /nodes/{node}/qemu/{vmid}/clone': 1,
  /** The pass after the deploy reads the config back once (config and pending keys in one call). */
  'GET /nodes/{node}/qemu/{vmid}/pending': 1,
  /** The power state is not asked for: nothing left to change depends on it. */
  'GET /nodes/{node}/qemu/{vmid}/status/current': 0,
};
/**
 * All reads and writes of the three deploys, task waits apart: 27 seen; cluster listings and nextid
 * calls vary by one or two with how the three deploys overlap in time (shared or not).
 */
const TOTAL_FOR_THREE = 29;

describe('requests per deployed worker, held against the simulator request log', function () {
  this.timeout(60_000);
  let env: AppEnv;

  afterEach(async () => {
    await env?.dispose();
  });

  it('three deploys (one local, two cross-node) share their reads and write each config once', async () => {
    // Drift checks at their default interval (AppEnv checks at every pass): not due in this test.
    env = new AppEnv({
      controllerSettings: { resyncIntervalMs: 60_000, driftCheckIntervalMs: 10 * 60_000 },
    });
    const hosts = ['pve1', 'pve2', 'pve3'];
    env.write('fleet.yaml', hosts.map((h) => workerYaml(`w-${h}`, { host: h })).join('---\n'));
    await env.start();
    await env.converged(30_000);
    const log = env.sim.sim.callLog();
    const cpus = new Map(hosts.map((h) => [`w-${h}`, String(env.store.getWorker(`w-${h}`)!.spec.cpus)]));
    await env.app.stop(2000);

    const vms = env.sim.sim.listVms().filter((v) => v.name?.startsWith('w-'));
    expect(vms.map((v) => `${v.name}@${v.node}`).sort()).to.deep.equal([
      'w-pve1@pve1',
      'w-pve2@pve2',
      'w-pve3@pve3',
    ]);
    for (const vm of vms) {
      expect(vm.tags).to.equal('workerctl');
      expect(vm.config.cores, "cores as the spec says, not the template's 2").to.equal(cpus.get(vm.name!));
    }
    const moves = log.filter((c) => c.endpoint === 'POST /nodes/{node}/qemu/{vmid}/move_disk');
    expect(moves, 'the cross-node path was taken').to.have.length(2);

    const count = new Map<string, number>();
    for (const c of log) {
      if (/^GET \/nodes\/\{node\}\/tasks/.test(c.endpoint)) continue;
      count.set(c.endpoint, (count.get(c.endpoint) ?? 0) + 1);
    }
    const seen = JSON.stringify(Object.fromEntries(count));
    for (const [endpoint, n] of Object.entries(PER_WORKER)) {
      expect(count.get(endpoint) ?? 0, `${endpoint} in ${seen}`).to.equal(n * hosts.length);
    }
    const total = [...count.values()].reduce((a, b) => a + b, 0);
    expect(total, seen).to.be.at.most(TOTAL_FOR_THREE);
  });
});
