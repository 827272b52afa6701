/**
 * The deployment files shipped in examples/: the systemd unit (checked by systemd's own
 * `systemd-analyze verify`, its flags against `workerctl run`) and the GitHub Actions workflow (it
 * parses, calls commands and flags that exist, and its validate step works on a copy of the examples).
 */
import { expect } from 'chai';
import type { Command } from 'commander';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { buildProgram } from '../../controller/cli/program.js';
import { LifecycleEnv } from '../helpers/lifecycle-env.js';
import { runCli } from '../helpers/cli.js';
import { CREDENTIAL } from '../../controller/credentials.js';
import { examplesDir, packageRoot } from '../../controller/paths.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const MAIN = join(packageRoot, 'dist', 'controller', 'main.js');
const UNIT = join(examplesDir, 'deploy', 'workerctl.service');
const WORKFLOW = join(examplesDir, 'ci', 'github-workflow.yml');

/** `ExecStart=` of a unit with its line continuations joined, split into words. */
function execStart(unit: string): string[] {
  const joined = unit.replace(/\\\n\s*/g, ' ');
  const line = joined.split('\n').find((l) => l.startsWith('ExecStart='));
  if (!line) throw new Error('no ExecStart=');
  return line.slice('ExecStart='.length).trim().split(/\s+/);
}

/** The words of a shell line, enough for the simple commands of the workflow (no quotes there). */
function words(line: string): string[] {
  return line.trim().split(/\s+/);
}

/** The sub-command of `program` a command line names, or undefined. */
function subcommand(program: Command, name: string): Command | undefined {
  return program.commands.find((c) => c.name() === name || c.aliases().includes(name));
}

/** Flags (`--x`, `-x`) in `args` that `cmd` does not define. */
function unknownFlags(cmd: Command, args: string[]): string[] {
  const known = new Set(cmd.options.flatMap((o) => [o.long, o.short].filter((f): f is string => !!f)));
  known.add('--help').add('-h');
  return args.filter((a) => a.startsWith('-')).filter((a) => !known.has(a.split('=')[0]!));
}

describe('examples/deploy/workerctl.service', function () {
  this.timeout(20_000);
  const unit = readFileSync(UNIT, 'utf8');

  it('passes systemd-analyze verify (with workerctl at the path ExecStart names)', function () {
    const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8', timeout: 20_000 });
    if (probe.error) {
      console.log('      (systemd-analyze is not installed: apt-get install systemd to run this check)');
      this.skip();
    }
    const tmp = makeTempDir('wctl-unit-');
    try {
      // verify checks that ExecStart's program exists and is executable: point it at a real one.
      const bin = join(tmp.path, 'workerctl');
      writeFileSync(bin, `#!/bin/sh\nexec "${process.execPath}" "${MAIN}" "$@"\n`);
      chmodSync(bin, 0o755);
      const copy = join(tmp.path, 'workerctl.service');
      writeFileSync(copy, unit.replaceAll('/usr/bin/workerctl', bin));
      const res = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', timeout: 60_000 });
      expect(res.stderr + res.stdout, 'systemd-analyze verify output').to.equal('');
      expect(res.status).to.equal(0);
    } finally {
      tmp.remove();
    }
  });

  it('runs `workerctl run` with flags that exist, and no secret on the command line', () => {
    const [bin, command, ...args] = execStart(unit);
    expect(bin).to.equal('/usr/bin/workerctl');
    expect(command).to.equal('run');
    const run = subcommand(buildProgram(), 'run')!;
    expect(unknownFlags(run, args)).to.deep.equal([]);
    expect(args).not.to.include('--token-file');
    expect(args).not.to.include('--api-token-file');
    expect(unit).not.to.match(/^Environment=.*TOKEN/m);
  });

  it('passes both tokens as the credentials workerctl reads, a state directory and hardening', () => {
    const credentials = [...unit.matchAll(/^LoadCredential=([^:\n]+):/gm)].map((m) => m[1]);
    expect(credentials).to.have.members([CREDENTIAL.proxmoxToken, CREDENTIAL.apiToken]);
    expect(unit).to.match(/^StateDirectory=workerctl$/m);
    expect(execStart(unit)).to.include('${STATE_DIRECTORY}');
    for (const line of [
      'User=workerctl',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'Restart=on-failure',
    ]) {
      expect(unit.split('\n'), line).to.include(line);
    }
  });
});

describe('examples/ci/github-workflow.yml', function () {
  this.timeout(20_000);
  const workflow = parseYaml(readFileSync(WORKFLOW, 'utf8')) as {
    on: Record<string, unknown>;
    env: Record<string, string>;
    jobs: Record<
      string,
      { steps: { run?: string; uses?: string }[]; permissions?: Record<string, string>; if?: string }
    >;
  };
  const runLines = Object.values(workflow.jobs)
    .flatMap((j) => j.steps)
    .flatMap((s) => (s.run ?? '').split('\n'))
    .filter((l) => l.trim().startsWith('workerctl '));

  it('parses, runs on pull requests, and validates with GitHub annotations', () => {
    expect(workflow.on).to.have.property('pull_request');
    expect(runLines.map(words)).to.deep.include(['workerctl', 'validate', '-o', 'github', 'workers/']);
  });

  it('plans each pull request at the controller, as annotations and as a comment, with its token as a secret', () => {
    const plan = workflow.jobs.plan!;
    expect(plan.if).to.contain("github.event_name == 'pull_request'");
    expect(plan.permissions).to.include({ 'pull-requests': 'write' });
    const lines = plan.steps.flatMap((st) => (st.run ?? '').split('\n')).map((l) => l.trim());
    const calls = lines.filter((l) => l.startsWith('workerctl plan ')).map(words);
    expect(calls.map((w) => w.slice(0, 8))).to.deep.equal([
      ['workerctl', 'plan', '-f', 'workers/', '--controller', '$WORKERCTL_CONTROLLER', '-o', 'github'],
      ['workerctl', 'plan', '-f', 'workers/', '--controller', '$WORKERCTL_CONTROLLER', '-o', 'markdown'],
    ]);
    // Exit 2 (changes pending) passes; 1 (cannot be applied) fails the job.
    expect(lines.filter((l) => l === 'test $code -ne 1')).to.have.length(2);
    expect(workflow.env.WORKERCTL_API_TOKEN).to.equal('${{ secrets.WORKERCTL_API_TOKEN }}');
  });

  it("the README's GitOps section shows the plan job's commands as the workflow has them", () => {
    const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8');
    const gitops = readme.slice(
      readme.indexOf('<!-- section:gitops -->'),
      readme.indexOf('<!-- /section:gitops -->'),
    );
    const shown = gitops.split('\n').map((l) => l.trim().replace(/^- run: /, ''));
    const planLines = workflow.jobs
      .plan!.steps.flatMap((st) => (st.run ?? '').split('\n'))
      .map((l) => l.trim())
      // Comments are left out of the README's shorter version.
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(planLines.length).to.be.greaterThan(4);
    for (const line of planLines) expect(shown, line).to.include(line);
  });

  it('calls only commands and flags that exist', () => {
    const program = buildProgram();
    expect(runLines).not.to.be.empty;
    for (const line of runLines) {
      const [, name, ...args] = words(line);
      const cmd = subcommand(program, name!);
      expect(cmd, `workerctl ${name}`).to.not.equal(undefined);
      expect(unknownFlags(cmd!, args), line).to.deep.equal([]);
    }
  });

  it('its plan step, run against a controller, prints the pull-request comment', async function () {
    this.timeout(60_000);
    const env = new LifecycleEnv();
    const tmp = makeTempDir('wctl-gha-plan-');
    try {
      for (const f of readdirSync(examplesDir).filter((f) => f.endsWith('.yaml')))
        env.write(f, readFileSync(join(examplesDir, f), 'utf8'));
      await env.start();
      await env.converged();
      // The pull request: the examples with a label of the Eager worker changed (a tag on its VM).
      const workers = join(tmp.path, 'workers');
      cpSync(examplesDir, workers, { recursive: true });
      const pve1 = join(workers, 'pve1.yaml');
      writeFileSync(pve1, readFileSync(pve1, 'utf8').replace('tier: static', 'tier: fixed'));
      const line = runLines.find((l) => l.includes('-o markdown'))!;
      const args = words(line.slice(0, line.indexOf(' >')))
        .slice(1)
        .map((w) => (w === '$WORKERCTL_CONTROLLER' ? env.url : w));
      // Asynchronously: the controller answers from this process.
      const res = await runCli(args, { cwd: tmp.path, env: { WORKERCTL_API_TOKEN: env.token } });
      expect(res.code, res.stderr).to.equal(2);
      expect(res.stdout).to.match(/^### workerctl plan: 1 to change \(1 worker\)\./);
      expect(res.stdout).to.match(
        /\| ~ \| `pve1-worker-02` \| configure \| live \| tags site-dc1;tier-static;workerctl -&gt; site-dc1;tier-fixed;workerctl .*\| `workers\/pve1\.yaml:\d+` \|/,
      );
    } finally {
      await env.dispose();
      tmp.remove();
    }
  });

  it("its validate step passes on the examples and annotates a broken manifest's line", () => {
    const tmp = makeTempDir('wctl-gha-');
    try {
      const workers = join(tmp.path, 'workers');
      cpSync(examplesDir, workers, { recursive: true });
      const validate = runLines.find((l) => words(l)[1] === 'validate')!;
      const run = () =>
        spawnSync(process.execPath, [MAIN, ...words(validate).slice(1)], {
          cwd: tmp.path,
          encoding: 'utf8',
          timeout: 20_000,
        });
      const good = run();
      expect(good.status, good.stdout + good.stderr).to.equal(0);
      const file = readdirSync(workers).find((f) => f.endsWith('.yaml'))!;
      copyFileSync(join(workers, file), join(tmp.path, 'backup.yaml'));
      writeFileSync(
        join(workers, file),
        readFileSync(join(workers, file), 'utf8').replace('vmbr0', '{vmbr0'),
      );
      const bad = run();
      expect(bad.status).to.equal(1);
      expect(bad.stdout).to.match(new RegExp(`^::error file=workers/${file},line=\\d+,col=\\d+`, 'm'));
    } finally {
      tmp.remove();
    }
  });
});
