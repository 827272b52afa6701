/**
 * SIGTERM and SIGINT end plan, apply and run within --grace, always: against a Proxmox that
 * accepts connections and never answers (the first request hangs), and while apply --wait waits
 * for a clone that takes hours. Through the real binary.
 */
import { expect } from 'chai';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startSimulator, type RunningSimulator } from '../../controller/simulator/index.js';
import { exited, simFlags, startCli } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { workerYaml } from '../helpers/manifests.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const GRACE_MS = 2000;
/** Process start-up and the exit itself, on a loaded machine. */
const SLACK_MS = 1500;

describe('SIGTERM and SIGINT end plan, apply and run within the grace period', function () {
  this.timeout(60_000);
  let tmp: { path: string; remove: () => void };
  let silent: Server;
  const sockets = new Set<Socket>();
  let silentUrl: string;

  before(async () => {
    tmp = makeTempDir('wctl-signals-');
    mkdirSync(join(tmp.path, 'workers'));
    writeFileSync(join(tmp.path, 'workers', 'a.yaml'), workerYaml('sig-a'));
    writeFileSync(join(tmp.path, 'silent-token'), 'root@pam!t=00000000-0000-0000-0000-000000000000\n', {
      mode: 0o600,
    });
    // Accepts, reads, never answers: every request hangs until the client gives up.
    silent = createServer((s) => {
      sockets.add(s);
      s.on('data', () => undefined);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
    tmp.remove();
  });

  async function stopsInTime(
    command: string,
    signal: NodeJS.Signals,
    extra: string[],
    expected: number,
    // Against the silent server: once its first request hangs there (the handlers are in place).
    ready: (out: string) => boolean = () => sockets.size > 0,
    conn: string[] = ['--server', silentUrl, '--token-file', join(tmp.path, 'silent-token')],
    stateDir = join(tmp.path, `state-${command}-${signal}`),
  ): Promise<string> {
    const child = startCli([
      command,
      '-f',
      join(tmp.path, 'workers'),
      ...conn,
      '--state-dir',
      stateDir,
      '--grace',
      `${GRACE_MS}ms`,
      ...extra,
    ]);
    try {
      await eventually(
        () => ready(child.output()) || child.exitCode !== null || child.output().slice(-400),
        20_000,
      );
      expect(child.exitCode, child.output()).to.equal(null);
      await new Promise((r) => setTimeout(r, 200));
      const t0 = Date.now();
      child.kill(signal);
      const code = await exited(child);
      const took = Date.now() - t0;
      for (const s of sockets) s.destroy();
      expect(took, `${command} after ${signal}: ${child.output()}`).to.be.below(GRACE_MS + SLACK_MS);
      expect(code, child.output()).to.equal(expected);
      return child.output();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }

  it('plan (1), apply (1) and run (0) while Proxmox does not answer', async () => {
    const out = await stopsInTime('plan', 'SIGTERM', [], 1);
    expect(out).to.contain('plan interrupted by SIGTERM');
    expect(await stopsInTime('apply', 'SIGINT', ['--wait'], 1)).to.contain('apply interrupted by SIGINT');
    await stopsInTime('run', 'SIGTERM', ['--listen', '127.0.0.1:0'], 0);
  });

  describe('against the simulator', () => {
    let sim: RunningSimulator;
    before(async () => (sim = await startSimulator({ latency: 'fast' })));
    after(async () => sim.close());

    it('apply --wait while a clone takes hours, and run with the clone in flight', async () => {
      // The simulator's clone task takes hours; the wait for it is aborted within the grace.
      sim.sim.setFault({ kind: 'slowTask', taskType: 'qmclone', factor: 1e6 });
      const conn = simFlags(sim, tmp.path);
      const state = join(tmp.path, 'state-sim');
      const planned = (out: string) => out.includes('sig-a: create');
      const out = await stopsInTime('apply', 'SIGTERM', ['--wait'], 1, planned, conn, state);
      expect(out).to.contain('apply interrupted by SIGTERM');
      // The same state: run follows the clone task recorded in flight (invariant 4) when stopped.
      const resuming = (out: string) => out.includes('resuming intent');
      await stopsInTime('run', 'SIGINT', ['--listen', '127.0.0.1:0'], 0, resuming, conn, state);
      sim.sim.clearFaults();
    });
  });
});
