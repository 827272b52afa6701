/**
 * The CLI contract of plan, apply and status, through the real binary against the simulator over
 * HTTP: exit codes (plan: 0 no changes / 2 changes / 1 error, usage errors and blocked work
 * included; apply: 0 done / 1 failed, refused or blocked), read-only plan, apply --wait, and the
 * mass-delete guard from the command line.
 */
import { expect } from 'chai';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSimulator, type RunningSimulator } from '../../controller/simulator/index.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { runCli, simFlags, storedWorkers } from '../helpers/cli.js';
import { workerYaml } from '../helpers/manifests.js';

describe('workerctl plan / apply / status (CLI exit codes)', function () {
  this.timeout(60_000);
  let sim: RunningSimulator;
  let tmp: { path: string; remove: () => void };
  let manifests: string;
  let state: string;
  let conn: string[];

  beforeEach(async () => {
    sim = await startSimulator({ latency: 'fast' });
    tmp = makeTempDir('workerctl-cli-');
    manifests = join(tmp.path, 'workers');
    state = join(tmp.path, 'state');
    mkdirSync(manifests);
    conn = [...simFlags(sim, tmp.path), '--state-dir', state];
  });
  afterEach(async () => {
    await sim.close();
    tmp.remove();
  });

  const vms = () => sim.sim.listVms().filter((v) => !v.template);

  it('plan shows each deploy path and exits 1 naming a worker that cannot be deployed and what to change', async () => {
    writeFileSync(
      join(manifests, 'a.yaml'),
      workerYaml('cli-p2', { host: 'pve2' }) +
        '---\n' +
        workerYaml('cli-nope', { host: 'pve3', storage: 'fast-nvme' }),
    );
    const plan = await runCli(['plan', '-f', manifests, ...conn]);
    expect(plan.code, plan.stdout + plan.stderr).to.equal(1);
    expect(plan.stdout).to.contain(
      'clone worker-template (vm 9000 on pve1) to cephpool on pve2, then move disk scsi0 to local-lvm',
    );
    expect(plan.stderr).to.match(
      /error: NoDeployPath: worker cli-nope: .*storage fast-nvme does not exist on pve3.*set spec.storage/,
    );
  });

  it('plan exits 2 with changes pending, mutates nothing, then apply --wait converges and plan exits 0', async () => {
    writeFileSync(
      join(manifests, 'a.yaml'),
      workerYaml('cli-a') + '---\n' + workerYaml('cli-b', { host: 'pve2' }),
    );
    const calls = sim.sim.callLog().length;
    const plan = await runCli(['plan', '-f', manifests, ...conn]);
    expect(plan.code, plan.stdout + plan.stderr).to.equal(2);
    expect(plan.stdout).to.match(/Plan: 2 to create/);
    expect(plan.stdout).to.match(/cli-a: create \[live\]/);
    expect(plan.stdout).to.contain('┌');
    const mutating = sim.sim
      .callLog()
      .slice(calls)
      .filter((c) => c.method !== 'GET');
    expect(mutating, 'plan is read-only').to.deep.equal([]);
    expect(vms()).to.have.length(0);
    expect(readdirSync(tmp.path)).not.to.include('state');

    const json = await runCli(['plan', '-f', manifests, ...conn, '-o', 'json']);
    expect(json.code, json.stdout + json.stderr).to.equal(2);
    const parsed = JSON.parse(json.stdout) as {
      converged: boolean;
      actions: { worker: string; kind: string }[];
    };
    expect(parsed.converged).to.equal(false);
    expect(parsed.actions.map((a) => `${a.worker}:${a.kind}`)).to.deep.equal([
      'cli-a:create',
      'cli-b:create',
    ]);

    const apply = await runCli(['apply', '-f', manifests, ...conn, '--wait', '--timeout', '30s']);
    expect(apply.code, apply.stderr).to.equal(0);
    expect(apply.stdout).to.match(/converged in/);
    expect(
      vms()
        .map((v) => v.name)
        .sort(),
    ).to.deep.equal(['cli-a', 'cli-b']);

    const again = await runCli(['plan', '-f', manifests, ...conn]);
    expect(again.code, again.stdout + again.stderr).to.equal(0);
    expect(again.stdout).to.match(/No changes/);

    const status = await runCli(['status', '--state-dir', state, '-o', 'json']);
    expect(status.code, status.stdout + status.stderr).to.equal(0);
    const workers = (
      JSON.parse(status.stdout) as { workers: { name: string; ready: boolean; vmid: number }[] }
    ).workers;
    expect(workers.map((w) => [w.name, w.ready])).to.deep.equal([
      ['cli-a', true],
      ['cli-b', true],
    ]);
    const table = await runCli(['status', '--state-dir', state]);
    expect(table.stdout).to.match(/2 workers, 2 Ready/);
  });

  it('plan and apply exit 1 on an invalid manifest, naming file:line:col, and apply changes nothing', async () => {
    writeFileSync(join(manifests, 'a.yaml'), workerYaml('cli-ok'));
    writeFileSync(join(manifests, 'b.yaml'), workerYaml('cli-bad', { cpus: 'many' }));
    const plan = await runCli(['plan', '-f', manifests, ...conn]);
    expect(plan.code, plan.stdout + plan.stderr).to.equal(1);
    expect(plan.stderr).to.match(/b\.yaml:\d+:\d+: error: /);
    const apply = await runCli(['apply', '-f', manifests, ...conn, '--wait']);
    expect(apply.code, apply.stdout + apply.stderr).to.equal(1);
    expect(apply.stderr).to.match(/apply refused/);
    expect(vms()).to.have.length(0);
    expect(Object.keys(storedWorkers(state))).to.deep.equal([]);
  });

  it('a usage error exits 1, never 2 (2 means changes pending): a bad duration, missing manifests, an unknown flag', async () => {
    const bad = await runCli(['apply', '-f', manifests, ...conn, '--wait', '--timeout', '5x']);
    expect(bad.code, bad.stdout + bad.stderr).to.equal(1);
    expect(bad.stderr).to.match(/--timeout: invalid duration '5x'/);
    const none = await runCli(['plan', ...conn]);
    expect(none.code, none.stdout + none.stderr).to.equal(1);
    expect(none.stderr).to.match(/no manifests given/);
    const bogus = await runCli(['plan', '--bogus', '-f', manifests, ...conn]);
    expect(bogus.code, bogus.stdout + bogus.stderr).to.equal(1);
    expect(bogus.stderr).to.match(/unknown option '--bogus'/);
  });

  it('apply --wait exits 1 in seconds once the rest waits for a person (a conflict, a missing template), naming each with its fix; plan exits 1 too', async () => {
    sim.sim.createForeignVm({ vmid: 777, node: 'pve1', name: 'cli-clash' });
    writeFileSync(
      join(manifests, 'a.yaml'),
      [
        workerYaml('cli-clash'),
        workerYaml('cli-fine'),
        workerYaml('cli-notpl', { template: 'gone-template' }),
      ].join('---\n'),
    );
    const plan = await runCli(['plan', '-f', manifests, ...conn]);
    expect(plan.code, 'a plan with a conflict cannot be carried out: 1, not 2').to.equal(1);
    expect(plan.stderr).to.match(/error: Conflict: vm 777 on pve1 is named cli-clash/);
    expect(plan.stderr).to.match(/fix: .*workerctl adopt cli-clash --vmid 777/);
    const t0 = Date.now();
    // The default --timeout (15 minutes): only the blocked verdict ends the wait.
    const apply = await runCli(['apply', '-f', manifests, ...conn, '--wait']);
    expect(Date.now() - t0, 'exits in seconds, not after its timeout').to.be.below(15_000);
    expect(apply.code, apply.stdout + apply.stderr).to.equal(1);
    expect(apply.stderr).to.match(/nothing more happens on its own/);
    expect(apply.stderr).to.match(/ {2}Conflict: vm 777 on pve1 is named cli-clash/);
    expect(apply.stderr).to.match(
      /fix: rename or remove vm 777 on pve1, or, .*workerctl adopt cli-clash --vmid 777/,
    );
    expect(apply.stderr).to.match(/TemplateNotFound: worker cli-notpl: .*gone-template/);
    expect(apply.stderr).to.match(/fix: create the template in the cluster, or change spec.template/);
    expect(apply.stderr).not.to.match(/cli-fine/);
    expect(vms().map((v) => v.name)).to.include('cli-fine');
    expect(sim.sim.getVm(777)?.tags ?? '').not.to.contain('workerctl');
  });

  it('apply keeps the fleet when the directory is emptied, unless --allow-mass-delete', async () => {
    writeFileSync(
      join(manifests, 'a.yaml'),
      ['cli-m1', 'cli-m2', 'cli-m3'].map((n) => workerYaml(n)).join('---\n'),
    );
    expect((await runCli(['apply', '-f', manifests, ...conn, '--wait'])).code).to.equal(0);
    rmSync(join(manifests, 'a.yaml'));
    const guarded = await runCli(['apply', '-f', manifests, ...conn]);
    expect(guarded.code, guarded.stdout + guarded.stderr).to.equal(1);
    expect(guarded.stderr).to.match(/MassDeleteGuard: 3 of 3 workers would be deleted/);
    const t0 = Date.now();
    const waiting = await runCli(['apply', '-f', manifests, ...conn, '--wait']);
    expect(Date.now() - t0, 'the guard ends the wait at once').to.be.below(15_000);
    expect(waiting.code, waiting.stdout + waiting.stderr).to.equal(1);
    expect(waiting.stderr).to.match(/fix: restore the manifests .*--allow-mass-delete/);
    expect(vms()).to.have.length(3);
    const plan = await runCli(['plan', '-f', manifests, ...conn]);
    expect(plan.code, 'held back by the guard: apply would fail, so 1').to.equal(1);
    expect(plan.stdout).to.match(/Mass-delete guard: 3 of 3/);
    const allowed = await runCli(['plan', '-f', manifests, ...conn, '--allow-mass-delete']);
    expect(allowed.code, allowed.stdout + allowed.stderr).to.equal(2);

    const forced = await runCli(['apply', '-f', manifests, ...conn, '--allow-mass-delete', '--wait']);
    expect(forced.code, forced.stderr).to.equal(0);
    expect(vms()).to.have.length(0);
  });
});
