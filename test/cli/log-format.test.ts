/**
 * --log-format json|text on the commands that log: JSON lines off a terminal by default, text when
 * asked (flag or WORKERCTL_LOG_FORMAT), a usage error for anything else.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { examplesDir } from '../../controller/paths.js';
import { runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/temp-dir.js';

describe('--log-format', function () {
  this.timeout(30_000);
  const tmp = makeTempDir('workerctl-logfmt-');
  after(() => tmp.remove());
  const plan = (extra: string[] = [], env: NodeJS.ProcessEnv = {}) =>
    runCli(
      [
        'plan',
        '-f',
        examplesDir,
        '--simulate',
        '--state-dir',
        join(tmp.path, 'state'),
        '--log-level',
        'info',
        '-o',
        'json',
        ...extra,
      ],
      { env },
    );

  it('JSON lines by default off a terminal; text with --log-format text or WORKERCTL_LOG_FORMAT=text', async () => {
    const json = await plan();
    const lines = json.stderr.trim().split('\n');
    expect(lines.length).to.be.greaterThan(0);
    for (const line of lines) expect(JSON.parse(line)).to.have.property('message');

    const byFlag = await plan(['--log-format', 'text']);
    for (const text of [byFlag, await plan([], { WORKERCTL_LOG_FORMAT: 'text' })]) {
      const first = text.stderr.trim().split('\n');
      expect(first.length).to.be.greaterThan(0);
      for (const line of first) {
        expect(() => JSON.parse(line), line).to.throw();
        expect(line).to.match(/^\d\d:\d\d:\d\d\.\d{3} (info|warn|error|debug) +\S/);
      }
    }
    // The plan itself (stdout) is the same either way.
    type Out = { actions: { worker: string; kind: string }[] };
    const actions = (out: string) => (JSON.parse(out) as Out).actions.map((a) => `${a.worker}:${a.kind}`);
    expect(actions(byFlag.stdout)).to.deep.equal(actions(json.stdout));
  });

  it('anything else is a usage error naming the flag and the choices', async () => {
    const res = await plan(['--log-format', 'yaml']);
    // A usage error exits 1 like any error (2 means "changes pending").
    expect(res.code).to.equal(1);
    expect(res.stderr).to.match(/--log-format.*'yaml' is invalid.*json, text/);
    const sim = await runCli(['simulator', '--port', '0', '--log-format', 'xml']);
    expect(sim.code).to.equal(1);
    expect(sim.stderr).to.match(/--log-format/);
  });
});
