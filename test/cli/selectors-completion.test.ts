/**
 * Label selectors on plan, apply and status, and labels shown as Proxmox tags; the shell completion
 * script loads in bash and completes sub-commands, options and their values. Through the real binary.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSimulator, type RunningSimulator } from '../../controller/simulator/index.js';
import { MAIN, runCli, simFlags } from '../helpers/cli.js';
import { workerYaml } from '../helpers/manifests.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const labelled = (name: string, labels: string, spec: Record<string, unknown> = {}) =>
  workerYaml(name, spec).replace(`  name: ${name}`, `  name: ${name}\n  labels: ${labels}`);

describe('label selectors (-l) and labels as tags', function () {
  this.timeout(60_000);
  let sim: RunningSimulator;
  let tmp: { path: string; remove: () => void };

  before(async () => {
    sim = await startSimulator({ latency: 'fast' });
    tmp = makeTempDir('wctl-labels-');
  });
  after(async () => {
    await sim.close();
    tmp.remove();
  });

  it('plan, apply and status take only the selected workers; a worker whose label moved out of scope is left alone', async () => {
    const dir = join(tmp.path, 'workers');
    mkdirSync(dir);
    const write = (s1Site: string) =>
      writeFileSync(
        join(dir, 'a.yaml'),
        [
          labelled('sel-1', `{ site: ${s1Site}, rack: R3 }`),
          labelled('sel-2', '{ site: dc2 }'),
          labelled('sel-3', "{ site: dc1, spare: '' }", { host: 'pve2' }),
        ].join('---\n'),
      );
    write('dc1');
    const conn = [...simFlags(sim, tmp.path), '--state-dir', join(tmp.path, 'state')];
    const plan = await runCli(['plan', '-f', dir, ...conn, '-l', 'site=dc1', '-o', 'json']);
    expect(plan.code, plan.stderr).to.equal(2);
    const actions = (JSON.parse(plan.stdout) as { actions: { worker: string; kind: string }[] }).actions;
    expect(actions.map((a) => `${a.worker}:${a.kind}`)).to.deep.equal(['sel-1:create', 'sel-3:create']);

    const apply = await runCli(['apply', '-f', dir, ...conn, '-l', 'site=dc1', '--wait', '-o', 'json']);
    expect(apply.code, apply.stderr).to.equal(0);
    expect(JSON.parse(apply.stdout)).to.include({ result: 'converged', workers: 2, ready: 2 });
    const vm = (name: string) => sim.sim.listVms().find((v) => v.name === name);
    expect(vm('sel-2'), 'not selected, not created').to.equal(undefined);
    expect(vm('sel-1')!.tags).to.equal('rack-r3;site-dc1;workerctl');
    expect(vm('sel-3')!.tags).to.equal('site-dc1;spare;workerctl');

    const status = await runCli([
      'status',
      '--state-dir',
      join(tmp.path, 'state'),
      '-l',
      'site=dc1,!spare',
      '-o',
      'json',
    ]);
    expect(
      (JSON.parse(status.stdout) as { workers: { name: string }[] }).workers.map((w) => w.name),
    ).to.deep.equal(['sel-1']);

    // sel-1 moves to dc2: out of the dc1 scope, so neither changed nor removed by a dc1 apply.
    write('dc2');
    const again = await runCli(['apply', '-f', dir, ...conn, '-l', 'site=dc1', '--wait']);
    expect(again.code, again.stderr).to.equal(0);
    expect(vm('sel-1')!.tags).to.equal('rack-r3;site-dc1;workerctl');
    const whole = await runCli(['plan', '-f', dir, ...conn, '-o', 'json']);
    const all = (JSON.parse(whole.stdout) as { actions: { worker: string; kind: string; reason: string }[] })
      .actions;
    expect(all.map((a) => `${a.worker}:${a.kind}`)).to.deep.equal(['sel-1:configure', 'sel-2:create']);
    expect(all[0]!.reason).to.contain('tags rack-r3;site-dc1;workerctl -> rack-r3;site-dc2;workerctl');
  });
});

describe('shell completion', function () {
  this.timeout(30_000);

  it('the bash script loads in bash and completes sub-commands, options and their values', function () {
    const script = spawnSync(process.execPath, [MAIN, 'completion', 'bash'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(script.status, script.stderr).to.equal(0);
    const complete = (...words: string[]) => {
      const probe = [
        script.stdout,
        `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}`,
        '_workerctl',
        'printf "%s\\n" "${COMPREPLY[@]}"',
      ].join('\n');
      const res = spawnSync('bash', ['--norc', '--noprofile', '-c', probe], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(res.status, res.stderr).to.equal(0);
      expect(res.stderr).to.equal('');
      return res.stdout.split('\n').filter(Boolean);
    };
    expect(complete('workerctl', '')).to.include.members([
      'plan',
      'apply',
      'run',
      'status',
      'adopt',
      'recover',
      'completion',
    ]);
    expect(complete('workerctl', 'pl')).to.deep.equal(['plan']);
    expect(complete('workerctl', 'session', 'st')).to.deep.equal(['start']);
    expect(complete('workerctl', 'plan', '-f', 'workers/', '-o', '')).to.deep.equal([
      'table',
      'json',
      'yaml',
      'markdown',
      'github',
    ]);
    expect(complete('workerctl', 'apply', '--no-')).to.deep.equal(['--no-progress']);
    expect(complete('workerctl', 'completion', '')).to.deep.equal(['bash', 'zsh', 'fish']);
    // Registered for the command: `complete -p workerctl` names the function.
    const registered = spawnSync('bash', ['--norc', '-c', `${script.stdout}\ncomplete -p workerctl`], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(registered.stdout).to.contain('-F _workerctl workerctl');
  });

  it('the zsh and fish scripts parse (when those shells are installed)', function () {
    let checked = 0;
    for (const [shell, args] of [
      ['zsh', ['-n']],
      ['fish', ['--no-execute']],
    ] as const) {
      if (spawnSync(shell, ['--version'], { timeout: 20_000 }).error) continue;
      const tmp = makeTempDir('wctl-completion-');
      try {
        const file = join(tmp.path, `workerctl.${shell}`);
        writeFileSync(
          file,
          spawnSync(process.execPath, [MAIN, 'completion', shell], { encoding: 'utf8', timeout: 20_000 })
            .stdout,
        );
        const res = spawnSync(shell, [...args, file], { encoding: 'utf8', timeout: 20_000 });
        expect(res.status, `${shell}: ${res.stderr}`).to.equal(0);
      } finally {
        tmp.remove();
      }
      checked++;
    }
    if (checked === 0) {
      console.log('      (neither zsh nor fish is installed: their scripts were not parsed)');
      this.skip();
    }
  });
});
