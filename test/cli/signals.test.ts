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

/** A "Proxmox" that accepts, reads and never answers: every request hangs until the client gives up. */
class SilentServer {
  readonly sockets = new Set<Socket>();
  readonly server: Server = createServer((s) => {
    this.sockets.add(s);
    s.on('data', () => undefined);
    s.on('close', () => this.sockets.delete(s));
  });
  url = '';

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

describe('SIGTERM and SIGINT end plan, apply and run within the grace period', function () {
  this.timeout(60_000);
  let tmp: { path: string; remove: () => void };
  let token: string;

  before(() => {
    tmp = makeTempDir('wctl-signals-');
    mkdirSync(join(tmp.path, 'workers'));
    writeFileSync(join(tmp.path, 'workers', 'a.yaml'), workerYaml('sig-a'));
    token = join(tmp.path, 'silent-token');
    writeFileSync(token, 'root@pam!t=00000000-0000-0000-0000-000000000000\n', { mode: 0o600 });
  });
  after(() => tmp.remove());

  /** Starts `command`, waits until `ready`, signals it; it must end within the grace with `expected`. */
  async function stopsInTime(opts: {
    command: string;
    signal: NodeJS.Signals;
    extra: string[];
    expected: number;
    ready: (out: string) => boolean;
    conn: string[];
    stateDir: string;
  }): Promise<string> {
    const child = startCli([
      opts.command,
      '-f',
      join(tmp.path, 'workers'),
      ...opts.conn,
      '--state-dir',
      opts.stateDir,
      '--grace',
      `${GRACE_MS}ms`,
      ...opts.extra,
    ]);
    try {
      await eventually(
        () => opts.ready(child.output()) || child.exitCode !== null || child.output().slice(-400),
        20_000,
      );
      expect(child.exitCode, child.output()).to.equal(null);
      await new Promise((r) => setTimeout(r, 200));
      const t0 = Date.now();
      child.kill(opts.signal);
      const code = await exited(child);
      const took = Date.now() - t0;
      expect(took, `${opts.command} after ${opts.signal}: ${child.output()}`).to.be.below(
        GRACE_MS + SLACK_MS,
      );
      expect(code, child.output()).to.equal(opts.expected);
      return child.output();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }

  it('plan (1), apply (1) and run (0) while Proxmox does not answer', async () => {
    const servers = await Promise.all([0, 1, 2].map(() => new SilentServer().start()));
    try {
      // Each against its own silent server: ready once its first request hangs there (the
      // handlers are in place by then).
      const hanging = (i: number) => ({
        ready: () => servers[i]!.sockets.size > 0,
        conn: ['--server', servers[i]!.url, '--token-file', token],
      });
      const [plan, apply] = await Promise.all([
        stopsInTime({
          command: 'plan',
          signal: 'SIGTERM',
          extra: [],
          expected: 1,
          ...hanging(0),
          stateDir: join(tmp.path, 's-plan'),
        }),
        stopsInTime({
          command: 'apply',
          signal: 'SIGINT',
          extra: ['--wait'],
          expected: 1,
          ...hanging(1),
          stateDir: join(tmp.path, 's-apply'),
        }),
        stopsInTime({
          command: 'run',
          signal: 'SIGTERM',
          extra: ['--listen', '127.0.0.1:0'],
          expected: 0,
          ...hanging(2),
          stateDir: join(tmp.path, 's-run'),
        }),
      ]);
      expect(plan).to.contain('plan interrupted by SIGTERM');
      expect(apply).to.contain('apply interrupted by SIGINT');
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });

  describe('against the simulator', () => {
    let sim: RunningSimulator;
    before(async () => (sim = await startSimulator({ latency: 'fast' })));
    after(async () => sim.close());

    it('apply --wait while a clone takes hours, and run with the clone in flight', async () => {
      // The simulator's clone task takes hours; the wait for it is aborted within the grace.
      sim.sim.setFault({ kind: 'slowTask', taskType: 'qmclone', factor: 1e6 });
      const conn = simFlags(sim, tmp.path);
      const stateDir = join(tmp.path, 'state-sim');
      const out = await stopsInTime({
        command: 'apply',
        signal: 'SIGTERM',
        extra: ['--wait'],
        expected: 1,
        ready: (o) => o.includes('sig-a: create'),
        conn,
        stateDir,
      });
      expect(out).to.contain('apply interrupted by SIGTERM');
      // The wait ended with the controller: it did not go on polling a closed store.
      expect(out).not.to.match(/convergence check failed|store is closed/);
      // The same state: run follows the clone task recorded in flight (invariant 4) when stopped.
      await stopsInTime({
        command: 'run',
        signal: 'SIGINT',
        extra: ['--listen', '127.0.0.1:0'],
        expected: 0,
        ready: (o) => o.includes('resuming intent'),
        conn,
        stateDir,
      });
      sim.sim.clearFaults();
    });
  });
});
