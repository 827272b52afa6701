/**
 * The controller end to end: manifest files in a temporary directory, the real watcher, the reconcile
 * core and the store, against the simulator over HTTP. Each test asserts the end state of the cluster
 * and of the records, and that a fresh plan is empty afterwards.
 */
import { expect } from 'chai';
import { E2eEnv } from '../helpers/app-env.js';
import { eventually } from '../helpers/eventually.js';
import { workerYaml } from '../helpers/manifests.js';

describe('controller end to end (simulator over HTTP)', function () {
  this.timeout(30_000);
  let env: E2eEnv;

  afterEach(async () => {
    await env?.dispose();
  });

  async function startWith(
    files: Record<string, string>,
    opts: ConstructorParameters<typeof E2eEnv>[0] = {},
  ) {
    env = new E2eEnv(opts);
    for (const [f, text] of Object.entries(files)) env.write(f, text);
    await env.start();
    return env;
  }

  it('creates the Eager workers (one VM each, tagged ours) and nothing for OnDemand ones', async () => {
    await startWith({
      'a.yaml': workerYaml('e2e-a') + '---\n' + workerYaml('e2e-b', { host: 'pve2', cpus: 4 }),
      'c.yaml': workerYaml('e2e-c', { deploy: 'OnDemand' }),
    });
    await env.converged();
    const [a] = env.vmsNamed('e2e-a');
    const [b] = env.vmsNamed('e2e-b');
    expect(env.vmsNamed('e2e-a')).to.have.length(1);
    expect(a.node).to.equal('pve1');
    expect(b.node).to.equal('pve2');
    expect(b.config.cores).to.equal('4');
    expect(a.tags?.split(/[;, ]/)).to.include('workerctl');
    expect(env.vmsNamed('e2e-c')).to.have.length(0);
    expect(env.record('e2e-a')?.vmid).to.equal(a.vmid);
    expect(env.record('e2e-c')?.status.phase).to.equal('Configured');
    expect((await env.fleet.plan()).converged).to.equal(true);
  });

  it('applies a live edit to a stopped worker and a restart edit to a running one', async () => {
    await startWith({
      'a.yaml': workerYaml('e2e-live', { cpus: 4 }),
      'b.yaml': workerYaml('e2e-run', { cpus: 4 }),
    });
    await env.converged();
    const runVm = env.vmsNamed('e2e-run')[0];
    env.sim.sim.setVmPower(runVm.vmid, 'running');
    // The core reuses a cluster listing for up to 5 s; let a resync see the VM running first.
    await env.controller.resync();

    env.write('a.yaml', workerYaml('e2e-live', { cpus: 6, description: 'edited live' }));
    env.write('b.yaml', workerYaml('e2e-run', { cpus: 8 }));
    await eventually(
      () => env.record('e2e-run')?.generation === 2 && env.record('e2e-live')?.generation === 2,
    );
    await env.converged();

    const live = env.vmsNamed('e2e-live')[0];
    expect(live.config.cores).to.equal('6');
    expect(live.config.description).to.contain('edited live');
    expect(live.status).to.equal('stopped');
    const run = env.vmsNamed('e2e-run')[0];
    expect(run.vmid).to.equal(runVm.vmid);
    expect(run.config.cores).to.equal('8');
    expect(run.pending).to.deep.equal({});
    expect(
      env
        .record('e2e-run')
        ?.status.history.map((h) => h.action)
        .join(' | '),
    ).to.match(/restart/i);
  });

  it('repairs drift made behind its back on the next resync', async () => {
    await startWith({ 'a.yaml': workerYaml('e2e-drift', { cpus: 6 }) });
    await env.converged();
    const vm = env.vmsNamed('e2e-drift')[0];
    env.sim.sim.editVmConfig(vm.vmid, { cores: 1, memory: 1024 });
    await eventually(() => {
      const now = env.sim.sim.getVm(vm.vmid);
      return now?.config.cores === '6' && now.config.memory === '6144' ? true : `cores ${now?.config.cores}`;
    });
    expect(env.vmsNamed('e2e-drift')).to.have.length(1);
  });

  it('removes a worker whose document disappeared: VM and disks deleted, record dropped', async () => {
    await startWith({
      'a.yaml': workerYaml('e2e-keep1'),
      'b.yaml': workerYaml('e2e-keep2'),
      'c.yaml': workerYaml('e2e-gone'),
    });
    await env.converged();
    const vmid = env.vmsNamed('e2e-gone')[0].vmid;
    env.remove('c.yaml');
    await eventually(() => env.record('e2e-gone') === undefined);
    await env.converged();
    expect(env.sim.sim.getVm(vmid)).to.equal(undefined);
    expect(env.vmsNamed('e2e-keep1')).to.have.length(1);
    expect(env.vmsNamed('e2e-keep2')).to.have.length(1);
  });

  it('keeps the last valid spec in force when a file turns invalid (invariant 1)', async () => {
    await startWith({ 'a.yaml': workerYaml('e2e-inv', { cpus: 4 }), 'b.yaml': workerYaml('e2e-other') });
    await env.converged();
    const vmid = env.vmsNamed('e2e-inv')[0].vmid;
    const failedLoads: number[] = [];
    env.controller.on('loaded', (e) => failedLoads.push(e.load.invalidFiles.length));
    // Half-written: a valid prefix cut off mid-document, with a changed value.
    env.write('a.yaml', workerYaml('e2e-inv', { cpus: 12 }).slice(0, 60) + '\n  cpus: [');
    await eventually(() => failedLoads.includes(1));
    await env.controller.resync();
    await env.converged();
    expect(env.sim.sim.getVm(vmid)?.config.cores).to.equal('4');
    expect(env.record('e2e-inv')?.spec.cpus).to.equal(4);
    expect(env.controller.snapshot().lastLoad?.invalidFiles[0]).to.match(/a\.yaml$/);
    // Fixed again: the new spec goes through.
    env.write('a.yaml', workerYaml('e2e-inv', { cpus: 6 }));
    await eventually(() => env.sim.sim.getVm(vmid)?.config.cores === '6');
  });

  it('deletes nothing when the directory is emptied, unless --allow-mass-delete (invariant 2)', async () => {
    await startWith({
      'a.yaml': workerYaml('e2e-m1'),
      'b.yaml': workerYaml('e2e-m2'),
      'c.yaml': workerYaml('e2e-m3'),
    });
    await env.converged();
    const before = env.sim.sim.listVms().filter((v) => !v.template).length;
    for (const f of ['a.yaml', 'b.yaml', 'c.yaml']) env.remove(f);
    await eventually(() => env.controller.snapshot().lastLoad?.massDeleteBlocked !== undefined);
    await env.controller.resync();
    await env.controller.waitForIdle();
    expect(env.sim.sim.listVms().filter((v) => !v.template).length).to.equal(before);
    expect(env.store.listWorkers()).to.have.length(3);
    const plan = await env.fleet.plan();
    expect(plan.converged).to.equal(false);
    expect(plan.massDeleteBlocked?.wouldDelete).to.equal(3);

    // The operator means it: restart with the override.
    await env.stop();
    env = new E2eEnv({
      sim: env.sim,
      dirs: { manifests: env.manifests, state: env.state },
      settings: { allowMassDelete: true },
    });
    await env.start();
    await eventually(() => env.store.listWorkers().length === 0);
    expect(env.sim.sim.listVms().filter((v) => !v.template && v.name?.startsWith('e2e-m'))).to.have.length(0);
    await env.sim.close();
  });

  it('reports a foreign VM with the worker name as a conflict and leaves it alone (invariant 3)', async () => {
    env = new E2eEnv();
    await env.start();
    const foreign = env.sim.sim.createForeignVm({
      vmid: 4242,
      node: 'pve1',
      name: 'e2e-clash',
      config: { cores: 2 },
    });
    // The core reuses a cluster listing for up to 5 s; let a resync see the foreign VM first.
    await env.controller.resync();
    env.write('a.yaml', workerYaml('e2e-clash', { cpus: 8 }));
    await eventually(() => {
      const ready = env.record('e2e-clash')?.status.conditions.find((c) => c.type === 'Ready');
      return ready?.status === 'False' && /conflict/i.test(ready.reason + ready.message)
        ? true
        : JSON.stringify(ready);
    });
    await env.controller.resync();
    await env.controller.waitForIdle();
    const after = env.sim.sim.getVm(4242)!;
    expect(after.config).to.deep.equal(foreign.config);
    expect(after.tags ?? '').not.to.contain('workerctl');
    expect(env.vmsNamed('e2e-clash')).to.have.length(1);
    const plan = await env.fleet.plan();
    expect(plan.actions.map((a) => a.kind)).to.deep.equal(['conflict']);
  });

  it('converges with faults injected into 10% of the Proxmox calls, one VM per worker', async () => {
    env = new E2eEnv({ simulator: { seed: 7 } });
    await env.start();
    env.sim.sim.setFault({ kind: 'error', rate: 0.05, status: 500, message: 'injected failure' });
    env.sim.sim.setFault({ kind: 'status596', rate: 0.03 });
    env.sim.sim.setFault({ kind: 'lockTimeout', rate: 0.02 });
    const names = Array.from({ length: 8 }, (_, i) => `e2e-f${i}`);
    env.write('fleet.yaml', names.map((n, i) => workerYaml(n, { host: `pve${(i % 3) + 1}` })).join('---\n'));
    await eventually(
      () =>
        names.every(
          (n) =>
            env.vmsNamed(n).length >= 1 &&
            env.record(n)?.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
        ),
      20_000,
    );
    await env.converged(15_000);
    for (const n of names) expect(env.vmsNamed(n), n).to.have.length(1);
    const failed = env.sim.sim.callLog().filter((c) => c.status >= 500).length;
    expect(failed, 'faults were actually injected').to.be.greaterThan(0);
  });
});
