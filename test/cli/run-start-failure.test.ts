/** `run` whose start fails (here: no Proxmox to talk to) leaves no signal handlers behind. */
import { expect } from 'chai';
import { UsageError } from '../../controller/errors.js';
import { runController, type RunFlags } from '../../controller/cli/commands/run.js';
import { makeTempDir } from '../helpers/temp-dir.js';

describe('workerctl run: a start that fails', () => {
  it('throws its error and removes its SIGTERM/SIGINT handlers', async () => {
    const tmp = makeTempDir('run-start-');
    const dir = tmp.path;
    const before = [process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')];
    const env = process.env.WORKERCTL_SERVER;
    delete process.env.WORKERCTL_SERVER;
    try {
      const err = await runController({
        filename: [dir],
        grace: 1000,
        logLevel: 'error',
        stateDir: dir,
        view: false,
      } as unknown as RunFlags).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(UsageError);
      expect([process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')]).to.deep.equal(before);
    } finally {
      if (env !== undefined) process.env.WORKERCTL_SERVER = env;
      tmp.remove();
    }
  });
});
