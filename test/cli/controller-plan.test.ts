/**
 * GitOps through the real binary: a controller (`workerctl run`) on a git-sync layout (the manifest
 * root is a symlink to a worktree, swapped atomically to publish a new commit), and a CI job that
 * plans a pull request at it (`plan --controller`) from a checkout with no state and no Proxmox
 * credentials. No `git` is on the controller's PATH: the commit is read from the repository's files.
 */
import { expect } from 'chai';
import { existsSync, mkdirSync, readdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSimulator, type RunningSimulator } from '../../controller/simulator/index.js';
import { exited, runCli, simFlags, startCli } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { workerYaml } from '../helpers/manifests.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const C1 = '1'.repeat(40);
const C2 = '2'.repeat(40);

/** A worktree of the commit `commit` as git-sync makes it: a .git file, a detached HEAD. */
function worktree(root: string, commit: string, files: Record<string, string>): void {
  const gitDir = join(root, '.git', 'worktrees', commit);
  mkdirSync(gitDir, { recursive: true });
  writeFileSync(join(gitDir, 'HEAD'), `${commit}\n`);
  writeFileSync(join(gitDir, 'commondir'), '../..\n');
  const wt = join(root, '.worktrees', commit);
  mkdirSync(join(wt, 'workers'), { recursive: true });
  writeFileSync(join(wt, '.git'), `gitdir: ${gitDir}\n`);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(wt, 'workers', name), text);
}

/** git-sync's publish: a new link renamed over the old one. */
function publish(root: string, commit: string): void {
  symlinkSync(join('.worktrees', commit), join(root, 'tmp-link'));
  renameSync(join(root, 'tmp-link'), join(root, 'current'));
}

describe('plan at the controller (--controller) and a git-sync manifest root', function () {
  this.timeout(90_000);
  let sim: RunningSimulator;
  let tmp: { path: string; remove: () => void };
  let controller: ReturnType<typeof startCli> | undefined;

  before(async () => {
    sim = await startSimulator({ latency: 'fast' });
    tmp = makeTempDir('wctl-gitops-');
  });
  after(async () => {
    if (controller && controller.exitCode === null) {
      controller.kill('SIGKILL');
      await exited(controller);
    }
    await sim.close();
    tmp.remove();
  });

  it('plans a pull request from a directory with no state as the controller would, read-only; sees a symlink swap and records the commit', async () => {
    const root = join(tmp.path, 'git');
    const v1 = {
      'a.yaml': [
        workerYaml('gp-a', { cpus: 4 }),
        workerYaml('gp-b'),
        workerYaml('gp-c', { host: 'pve2' }),
      ].join('---\n'),
    };
    worktree(root, C1, v1);
    publish(root, C1);
    const state = join(tmp.path, 'state');
    const tokenFile = join(tmp.path, 'api-token');
    writeFileSync(tokenFile, 'ci-token-0123456789\n', { mode: 0o600 });
    controller = startCli(
      [
        'run',
        '-f',
        join(root, 'current', 'workers'),
        ...simFlags(sim, tmp.path),
        '--state-dir',
        state,
        '--listen',
        '127.0.0.1:0',
        '--api-token-file',
        tokenFile,
        '--no-progress',
      ],
      { PATH: '/nonexistent' },
    );
    let url = '';
    await eventually(() => {
      const m = /"message":"api listening".*?"url":"([^"]+)"/.exec(controller!.output());
      if (m) url = m[1]!;
      return Boolean(m) || controller!.exitCode !== null || controller!.output().slice(-300);
    }, 20_000);
    expect(controller.exitCode, controller.output()).to.equal(null);
    const status = async () =>
      (await (await fetch(`${url}/v1/workers?full=1`)).json()) as {
        workers: {
          name: string;
          revision?: string;
          status: {
            conditions: { type: string; status: string }[];
            history: { action: string; cause: string }[];
          };
        }[];
        manifests: { revision?: string } | null;
      };
    const allReady = async () =>
      (await status()).workers.filter((w) =>
        w.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
      ).length === 3;
    await eventually(allReady, 20_000);
    // The start log names the number of reconciles at once for what it is.
    await eventually(() => /"message":"controller started"/.test(controller!.output()), 10_000);
    const started = JSON.parse(
      controller
        .output()
        .split('\n')
        .find((l) => l.includes('"message":"controller started"'))!,
    ) as Record<string, unknown>;
    expect(started.concurrency).to.equal(32);
    expect(started).not.to.have.property('workers');
    expect((await status()).manifests?.revision).to.equal(C1);

    // The pull request: a changed worker, a new one, a removed one, in a checkout with no state.
    const ci = join(tmp.path, 'ci');
    mkdirSync(join(ci, 'workers'), { recursive: true });
    writeFileSync(
      join(ci, 'workers', 'a.yaml'),
      [workerYaml('gp-a', { cpus: 8 }), workerYaml('gp-b'), workerYaml('gp-d', { host: 'pve3' })].join(
        '---\n',
      ),
    );
    const env = { WORKERCTL_API_TOKEN: 'ci-token-0123456789' };
    const calls = sim.sim.callLog().length;
    const json = await runCli(['plan', '-f', join(ci, 'workers'), '--controller', url, '-o', 'json'], {
      env,
    });
    expect(json.code, json.stdout + json.stderr).to.equal(2);
    expect(
      sim.sim
        .callLog()
        .slice(calls)
        .filter((c) => c.method !== 'GET'),
      'read-only',
    ).to.deep.equal([]);
    expect(existsSync(join(ci, '.workerctl')), 'no state in the CI checkout').to.equal(false);
    const remote = JSON.parse(json.stdout) as {
      actions: { worker: string; kind: string; class: string; reason: string; source: string | null }[];
    };
    // The same plan, made locally against the controller's state directory (read while it runs).
    const local = await runCli([
      'plan',
      '-f',
      join(ci, 'workers'),
      ...simFlags(sim, tmp.path),
      '--state-dir',
      state,
      '-o',
      'json',
    ]);
    expect(local.code, local.stderr).to.equal(2);
    const strip = (r: typeof remote) =>
      r.actions.map(({ worker, kind, class: c, reason }) => ({ worker, kind, c, reason }));
    expect(strip(remote)).to.deep.equal(strip(JSON.parse(local.stdout) as typeof remote));
    expect(remote.actions.map((a) => `${a.worker}:${a.kind}`)).to.include.members([
      'gp-a:configure',
      'gp-c:delete',
      'gp-d:create',
    ]);
    expect(remote.actions.find((a) => a.worker === 'gp-d')!.source).to.match(/workers\/a\.yaml:\d+:1$/);

    // The pull request comment, and the token it takes.
    const md = await runCli(['plan', '-f', 'workers', '--controller', url, '-o', 'markdown'], {
      env,
      cwd: ci,
    });
    expect(md.code, md.stderr).to.equal(2);
    expect(md.stdout).to.match(/^### workerctl plan: 1 to create, /);
    expect(md.stdout).to.match(
      /\| \+ \| `gp-d` \| create \| live \| clone worker-template .* \| `workers\/a\.yaml:\d+` \|/,
    );
    const noToken = await runCli(['plan', '-f', 'workers', '--controller', url], { cwd: ci });
    expect(noToken.code).to.equal(1);
    expect(noToken.stderr).to.match(/refused the plan \(401\): pass its API token with --api-token-file/);

    // An invalid manifest in the pull request: the controller's loader reports it at file:line:col.
    writeFileSync(
      join(ci, 'workers', 'bad.yaml'),
      workerYaml('gp-e').replace('spec:', 'spec:\n  cpus: many'),
    );
    // A file over the size limit is not even read here: it is invalid there too (its workers stay).
    writeFileSync(join(ci, 'workers', 'big.yaml'), '# ' + 'x'.repeat(1024 * 1024) + '\n');
    const bad = await runCli(['plan', '-f', 'workers', '--controller', url, '-o', 'github'], {
      env,
      cwd: ci,
    });
    expect(bad.code).to.equal(1);
    expect(bad.stdout).to.match(
      /^::error file=workers\/big\.yaml,line=1,col=1,title=workerctl file\.too-large::/m,
    );
    expect(bad.stdout).to.match(
      /^::error file=workers\/bad\.yaml,line=6,col=9,title=workerctl schema\.type::/m,
    );

    // git-sync publishes the next commit: noticed at once, not at the next resync.
    const v2 = { 'a.yaml': v1['a.yaml'].replace('cpus: 4', 'cpus: 6') };
    worktree(root, C2, v2);
    publish(root, C2);
    await eventually(async () => {
      const s = await status();
      return s.manifests?.revision === C2 && s.workers.find((w) => w.name === 'gp-a')?.revision === C2;
    }, 5_000);
    // The change's history entry (what the events stream carries) names the commit that brought it.
    const gpA = (await status()).workers.find((w) => w.name === 'gp-a')!;
    expect(gpA.status.history.map((h) => `${h.action}: ${h.cause}`)).to.include(
      `spec changed: generation 2 @ ${C2.slice(0, 7)}`,
    );
    const table = await runCli(['status', '--controller', url]);
    expect(table.stdout).to.contain(`manifests at ${C2.slice(0, 7)}`);
    for (const line of table.stdout.split('\n')) expect([...line].length, line).to.be.at.most(80);
    expect(controller.output()).to.contain('"message":"manifest root swapped"');
    expect(readdirSync(ci)).to.deep.equal(['workers']);
  });
});
