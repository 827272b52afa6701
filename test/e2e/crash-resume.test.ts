/**
 * Invariant 4 end to end: `workerctl run` is killed with SIGKILL in the middle of a clone, started
 * again over the same state directory, and finishes the job with exactly one VM for the worker. The
 * simulator lives in the test process, so it outlives the child; the clone is slowed so that the kill
 * lands while the clone task runs.
 */
import { expect } from 'chai';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSimulator, type RunningSimulator } from '../../controller/simulator/index.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { exited, runCli, simFlags, startCli, storedWorkers } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { workerYaml } from '../helpers/manifests.js';

/** Every controller a test started: one a failed test left running is killed after it. */
const children: ReturnType<typeof startCli>[] = [];
function start(args: string[]): ReturnType<typeof startCli> {
  const child = startCli(args);
  children.push(child);
  return child;
}

/** The reason an eventually check gives: what it waits for, and the end of the controller's log. */
function waitingFor(what: string, child: ReturnType<typeof startCli>): string {
  return `${what}; controller log: ${child.output().slice(-1500)}`;
}

/** Runs `workerctl run` until the worker is Ready with no intent left, then stops it cleanly. */
async function runUntilReady(args: string[], state: string, name: string): Promise<void> {
  const child = start(args);
  try {
    await eventually(() => {
      const rec = storedWorkers(state)[name];
      const ready = rec?.status.conditions.find((c) => c.type === 'Ready');
      return ready?.status === 'True' && !rec?.intent
        ? true
        : `ready=${ready?.status} intent=${rec?.intent?.op}`;
    }, 30_000);
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited(child), child.output()).to.equal(0);
}

describe('crash and resume (invariant 4): kill -9 during a clone', function () {
  this.timeout(60_000);
  let sim: RunningSimulator;
  let tmp: { path: string; remove: () => void };

  before(async () => {
    sim = await startSimulator({ latency: 'fast' });
    tmp = makeTempDir('workerctl-crash-');
  });
  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      child.kill('SIGKILL');
      await exited(child);
    }
  });
  after(async () => {
    await sim.close();
    tmp.remove();
  });

  it('never creates a second VM for the worker and converges after the restart', async () => {
    const manifests = join(tmp.path, 'workers');
    const state = join(tmp.path, 'state');
    mkdirSync(manifests);
    writeFileSync(join(manifests, 'w.yaml'), workerYaml('crash-w1', { cpus: 4 }));
    // Clones take a few hundred ms instead of a few: room for the kill.
    sim.sim.setFault({ kind: 'slowTask', taskType: 'qmclone', factor: 100 });
    const args = ['run', '-f', manifests, ...simFlags(sim, tmp.path), '--state-dir', state, '--resync', '1s'];

    const first = start(args);
    await eventually(
      () =>
        sim.sim.listVms().some((v) => v.name === 'crash-w1' && v.lock === 'clone') ||
        waitingFor('no locked clone yet', first),
      15_000,
      5,
    );
    // The intent was written before the clone call (invariant 4).
    expect(storedWorkers(state)['crash-w1']?.intent?.op).to.equal('clone');
    first.kill('SIGKILL');
    expect(await exited(first)).to.equal('SIGKILL');
    expect(sim.sim.listVms().filter((v) => v.name === 'crash-w1')).to.have.length(1);

    await runUntilReady(args, state, 'crash-w1');

    const vms = sim.sim.listVms().filter((v) => !v.template);
    expect(vms.map((v) => v.name)).to.deep.equal(['crash-w1']);
    expect(vms[0].lock).to.equal(undefined);
    expect(vms[0].config.cores).to.equal('4');
    expect(storedWorkers(state)['crash-w1']?.vmid).to.equal(vms[0].vmid);

    // After convergence, plan (a separate process, read-only) says: no changes.
    sim.sim.clearFaults();
    const plan = await runCli(['plan', '-f', manifests, ...simFlags(sim, tmp.path), '--state-dir', state]);
    expect(plan.code, plan.stdout + plan.stderr).to.equal(0);
    expect(plan.stdout).to.match(/No changes/);
  });

  it('a cross-node deploy killed during its clone and again during its move_disk: one VM, on its node, its disk on local-lvm', async () => {
    // The worker is on pve2, the template's disks on shared cephpool on pve1, the worker's storage is
    // pve2's local-lvm: clone with target onto cephpool, then move_disk (qemu-server PVE/API2/Qemu.pm).
    const manifests = join(tmp.path, 'cross');
    const state = join(tmp.path, 'cross-state');
    mkdirSync(manifests);
    writeFileSync(join(manifests, 'w.yaml'), workerYaml('crash-x1', { host: 'pve2', cpus: 4 }));
    sim.sim.clearFaults();
    sim.sim.setFault({ kind: 'slowTask', taskType: 'qmclone', factor: 100 });
    sim.sim.setFault({ kind: 'slowTask', taskType: 'qmmove', factor: 100 });
    const args = ['run', '-f', manifests, ...simFlags(sim, tmp.path), '--state-dir', state, '--resync', '1s'];
    const running = (type: string) => sim.sim.tasks.running().some((t) => t.type === type);

    const first = start(args);
    await eventually(() => running('qmclone') || waitingFor('no clone task yet', first), 15_000, 5);
    first.kill('SIGKILL');
    expect(await exited(first)).to.equal('SIGKILL');

    const second = start(args);
    await eventually(() => running('qmmove') || waitingFor('no move task yet', second), 15_000, 5);
    expect(storedWorkers(state)['crash-x1']?.intent?.op).to.equal('move-disk');
    second.kill('SIGKILL');
    expect(await exited(second)).to.equal('SIGKILL');

    await runUntilReady(args, state, 'crash-x1');

    const vms = sim.sim.listVms().filter((v) => v.name === 'crash-x1');
    expect(vms).to.have.length(1);
    expect(vms[0].node).to.equal('pve2');
    expect(vms[0].lock).to.equal(undefined);
    expect(vms[0].disks.find((d) => d.key === 'scsi0')).to.include({ storage: 'local-lvm' });
    expect(Object.keys(vms[0].config).filter((k) => k.startsWith('unused'))).to.deep.equal([]);
    expect(sim.sim.callLog().filter((c) => c.endpoint.endsWith('/clone') && c.status === 200)).to.have.length(
      2,
    );
    sim.sim.clearFaults();
  });
});
