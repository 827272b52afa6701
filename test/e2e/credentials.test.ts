/**
 * `workerctl run` as the systemd unit in examples/deploy runs it: no token on the command line or in
 * the environment; both the Proxmox token and the API token come from $CREDENTIALS_DIRECTORY
 * (LoadCredential=pve-token:..., api-token:...). The CLI commands that talk to the controller find the
 * API token there too.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSimulator, type RunningSimulator } from '../../controller/simulator/index.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { exited, runCli, startCli } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { onDemandYaml as workerYaml } from '../helpers/manifests.js';

describe('credentials from $CREDENTIALS_DIRECTORY (systemd LoadCredential=)', function () {
  this.timeout(60_000);
  let sim: RunningSimulator;
  let tmp: { path: string; remove: () => void };

  before(async () => {
    sim = await startSimulator({ latency: 'fast' });
    tmp = makeTempDir('workerctl-cred-');
  });
  after(async () => {
    await sim.close();
    tmp.remove();
  });

  it('run takes the Proxmox token and the API token from the credentials; the CLI finds the API token there', async () => {
    const creds = join(tmp.path, 'credentials');
    const manifests = join(tmp.path, 'workers');
    const state = join(tmp.path, 'state');
    mkdirSync(creds, { mode: 0o700 });
    mkdirSync(manifests);
    const apiToken = randomBytes(24).toString('hex');
    writeFileSync(join(creds, 'pve-token'), sim.token + '\n', { mode: 0o600 });
    writeFileSync(join(creds, 'api-token'), apiToken + '\n', { mode: 0o600 });
    writeFileSync(join(manifests, 'w.yaml'), workerYaml('cred-w1', { deploy: 'Eager' }));
    const env = { CREDENTIALS_DIRECTORY: creds };
    const child = startCli(
      [
        'run',
        '-f',
        manifests,
        '--server',
        sim.url,
        '--state-dir',
        state,
        '--listen',
        '127.0.0.1:0',
        '--no-view',
      ],
      env,
    );
    try {
      let url = '';
      await eventually(() => {
        const m = /"message":"api listening".*?"url":"(http:\/\/[^"]+)"/.exec(child.output());
        if (m) url = m[1]!;
        return Boolean(m) || child.exitCode !== null;
      }, 15_000);
      expect(url, child.output()).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      // The Proxmox token worked: the Eager worker got its VM.
      await eventually(() => sim.sim.listVms().some((v) => v.name === 'cred-w1'), 15_000);
      // The API token is the credential, not a generated one.
      expect(existsSync(join(state, 'api-token'))).to.equal(false);
      const post = (token: string) =>
        fetch(`${url}/v1/sessions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: '{}',
        });
      expect((await post('wrong-token')).status).to.equal(401);
      expect((await post(apiToken)).status).to.equal(400); // past auth: the body lacks `host`
      // The CLI, given the same credentials directory, authenticates with it.
      const end = await runCli(['session', 'end', 's-000000000000', '--controller', url], { env });
      expect(end.code).to.equal(1);
      expect(end.stderr).to.match(/unknown session s-000000000000/);
      expect(end.stderr).not.to.match(/401|unauthori[sz]ed|token/i);
      expect(child.output()).not.to.contain(sim.token.split('=')[1]!);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited(child), child.output().slice(-2000)).to.equal(0);
  });
});
