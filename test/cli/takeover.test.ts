/**
 * adopt and recover through the real binary: a fleet whose state directory was deleted is recovered
 * from the owner tag and marker on its VMs, refusing what is ambiguous, and converges again with
 * no VM cloned twice; a foreign VM holding a new worker's name is adopted explicitly after its plan
 * was shown.
 */
import { expect } from 'chai';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { markerLine } from '../../controller/reconcile/desired-config.js';
import { startSimulator, type RunningSimulator } from '../../controller/simulator/index.js';
import { runCli, simFlags, storedWorkers } from '../helpers/cli.js';
import { workerYaml } from '../helpers/manifests.js';
import { makeTempDir } from '../helpers/temp-dir.js';

describe('adopt and recover (CLI)', function () {
  this.timeout(90_000);
  let sim: RunningSimulator;
  let tmp: { path: string; remove: () => void };
  let manifests: string;
  let state: string;
  let conn: string[];

  before(async () => {
    sim = await startSimulator({ latency: 'fast' });
    tmp = makeTempDir('wctl-takeover-');
    manifests = join(tmp.path, 'workers');
    state = join(tmp.path, 'state');
    mkdirSync(manifests);
    conn = [...simFlags(sim, tmp.path), '--state-dir', state];
  });
  after(async () => {
    await sim.close();
    tmp.remove();
  });

  const vms = () => sim.sim.listVms().filter((v) => !v.template);
  const clones = () => sim.sim.callLog().filter((c) => c.method === 'POST' && /\/clone$/.test(c.path)).length;

  it('recover round-trips a fleet whose state directory was deleted, refusing what is ambiguous; nothing is cloned twice', async () => {
    const fleet = ['rc-1', 'rc-2', 'rc-3'];
    writeFileSync(join(manifests, 'a.yaml'), fleet.map((n) => workerYaml(n, { host: 'pve2' })).join('---\n'));
    const first = await runCli(['apply', '-f', manifests, ...conn, '--wait']);
    expect(first.code, first.stderr).to.equal(0);
    const before = vms().map((v) => [v.name, v.vmid]);
    const cloned = clones();
    expect(cloned).to.equal(3);

    rmSync(state, { recursive: true });
    // Someone copied rc-2's VM in the Proxmox UI: tags and description (its marker) came along.
    const rc2 = vms().find((v) => v.name === 'rc-2')!;
    const uid = storedUid(rc2.description);
    sim.sim.createForeignVm({
      vmid: 950,
      node: 'pve2',
      name: 'rc-2-copy',
      tags: 'workerctl',
      config: { description: markerLine('rc-2', uid) },
    });

    const lost = await runCli(['plan', '-f', manifests, ...conn]);
    expect(lost.code, 'every worker is blocked by a conflict').to.equal(1);
    expect(lost.stderr).to.match(
      /carries the workerctl tag: if the state directory was lost, rebuild its records with workerctl recover/,
    );

    const dry = await runCli(['recover', '-f', manifests, ...conn]);
    expect(dry.code, dry.stdout + dry.stderr).to.equal(1);
    expect(dry.stdout).to.match(/│ rc-1 +│ \d+ on pve2 +│ recover: tag and marker match/);
    expect(dry.stdout.replace(/[│\s]+/g, ' ')).to.match(
      /rc-2 \d+, 950 ambiguous: vms \d+, 950 all carry the marker of rc-2/,
    );
    expect(dry.stderr).to.contain('refused 1 ambiguous worker(s): rc-2');
    expect(Object.keys(storedWorkers(state)), 'nothing written without --yes').to.deep.equal([]);

    const partial = await runCli(['recover', '-f', manifests, ...conn, '--yes', '-o', 'json']);
    expect(partial.code).to.equal(1);
    const verdicts = (JSON.parse(partial.stdout) as { verdicts: { worker: string; kind: string }[] })
      .verdicts;
    expect(verdicts.map((v) => `${v.worker}:${v.kind}`)).to.deep.equal([
      'rc-1:recover',
      'rc-2:ambiguous',
      'rc-3:recover',
    ]);
    expect(Object.keys(storedWorkers(state)).sort()).to.deep.equal(['rc-1', 'rc-3']);

    // The copy removed, rc-2 is no longer ambiguous.
    sim.sim.removeVm(950);
    const rest = await runCli(['recover', '-f', manifests, ...conn, '--yes']);
    expect(rest.code, rest.stdout + rest.stderr).to.equal(0);
    expect(rest.stdout).to.match(/rc-1 .*already recorded/);
    const plan = await runCli(['plan', '-f', manifests, ...conn]);
    expect(plan.code, plan.stdout + plan.stderr).to.equal(0);
    const apply = await runCli(['apply', '-f', manifests, ...conn, '--wait']);
    expect(apply.code, apply.stderr).to.equal(0);
    expect(vms().map((v) => [v.name, v.vmid])).to.deep.equal(before);
    expect(clones(), 'no VM cloned twice').to.equal(cloned);
  });

  it('adopt shows the plan first, refuses a mismatch, and takes the VM over only with --yes', async () => {
    manifests = join(tmp.path, 'adopt');
    mkdirSync(manifests);
    conn = [...simFlags(sim, tmp.path), '--state-dir', join(tmp.path, 'adopt-state')];
    state = join(tmp.path, 'adopt-state');
    sim.sim.createForeignVm({ vmid: 960, node: 'pve1', name: 'ad-1', tags: 'prod' });
    writeFileSync(join(manifests, 'b.yaml'), workerYaml('ad-1', { host: 'pve3' }));
    const wrongHost = await runCli(['adopt', 'ad-1', '--vmid', '960', '-f', manifests, ...conn]);
    expect(wrongHost.code).to.equal(1);
    expect(wrongHost.stderr).to.match(/adopting it would redeploy it: spec.host pve1 -> pve3/);

    writeFileSync(join(manifests, 'b.yaml'), workerYaml('ad-1', { host: 'pve1' }));
    const dry = await runCli(['adopt', 'ad-1', '--vmid', '960', '-f', manifests, ...conn]);
    expect(dry.code, dry.stdout + dry.stderr).to.equal(2);
    expect(dry.stdout).to.match(
      /adopt vm 960 \(ad-1 on pve1\) as worker ad-1:\n {2}tags prod -> prod;workerctl/,
    );
    expect(dry.stdout).to.match(/then apply would:\n.*ad-1: configure \[live\] cpus 1 -> 6/);
    expect(sim.sim.getVm(960)!.tags ?? '').to.equal('prod');

    const yes = await runCli(['adopt', 'ad-1', '--vmid', '960', '-f', manifests, ...conn, '--yes']);
    expect(yes.code, yes.stdout + yes.stderr).to.equal(0);
    expect(storedWorkers(state)['ad-1']).to.include({ vmid: 960, node: 'pve1' });
    const again = await runCli(['adopt', 'ad-1', '--vmid', '960', '-f', manifests, ...conn]);
    expect([again.code, again.stdout.trim()]).to.deep.equal([
      0,
      "vm 960 already is worker ad-1's; nothing to do",
    ]);

    const cloned = clones();
    const apply = await runCli(['apply', '-f', manifests, ...conn, '--wait']);
    expect(apply.code, apply.stderr).to.equal(0);
    expect(clones(), 'the adopted VM is used, not cloned anew').to.equal(cloned);
    expect(
      vms()
        .filter((v) => v.name === 'ad-1')
        .map((v) => v.vmid),
    ).to.deep.equal([960]);
    expect(sim.sim.getVm(960)!.config.cores).to.equal('6');
  });
});

function storedUid(description: string | undefined): string {
  const m = /uid=(\S+)/.exec(description ?? '');
  if (!m) throw new Error(`no marker in ${description}`);
  return m[1]!;
}
