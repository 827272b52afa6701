/**
 * One writer, always (issue 11 point 9): the state directory's lock is taken by exactly one of the
 * processes that start together after its holder was killed with SIGKILL, in every trial; the others
 * are refused naming the holder. A killed holder never leaves a lock that needs removing by hand.
 */
import { expect } from 'chai';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StoreLockedError } from '../../controller/errors.js';
import { silentLogger } from '../../controller/log.js';
import {
  LOCK_DIR_NAME,
  StateDirLock,
  holderAlive,
  processStartTime,
  readLockOwner,
} from '../../controller/store/state-lock.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { hostname } from 'node:os';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'lock-child.js');

interface Contender {
  child: ChildProcessWithoutNullStreams;
  /** Resolves with the first line after "waiting". */
  result: Promise<string>;
  ready: Promise<void>;
}

function contender(stateDir: string): Contender {
  const child = spawn(process.execPath, [CHILD, stateDir], { stdio: 'pipe' });
  let out = '';
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  const result = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const lines = out.split('\n').filter(Boolean);
      if (lines[0] === 'waiting') onReady();
      if (lines.length > 1) resolve(lines[1]!);
    });
    child.on('exit', (code) => reject(new Error(`contender exited (${code}): ${out}`)));
  });
  result.catch(() => {});
  return { child, result, ready };
}

function killed(child: ChildProcessWithoutNullStreams): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.on('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('state directory lock: one writer, always', () => {
  let tmp: { path: string; remove: () => void };
  beforeEach(() => (tmp = makeTempDir('workerctl-lock-')));
  afterEach(() => tmp.remove());

  it('issue 11 point 9: after a kill -9 of the holder, of three starts racing exactly one takes the lock (20 trials)', async function () {
    this.timeout(120_000);
    const stateDir = join(tmp.path, 'state');
    mkdirSync(stateDir);
    let doubles = 0;
    const alive: Contender[] = [];
    try {
      for (let trial = 0; trial < 20; trial++) {
        const holder = contender(stateDir);
        alive.push(holder);
        await holder.ready;
        holder.child.stdin.write('go\n');
        expect(await holder.result, `trial ${trial}: the holder`).to.equal('locked');
        await killed(holder.child);
        const racers = [contender(stateDir), contender(stateDir), contender(stateDir)];
        alive.push(...racers);
        await Promise.all(racers.map((r) => r.ready));
        for (const r of racers) r.child.stdin.write('go\n');
        const results = await Promise.all(racers.map((r) => r.result));
        const winners = racers.filter((_, i) => results[i] === 'locked');
        if (winners.length !== 1) doubles++;
        expect(winners, `trial ${trial}: ${results.join(' | ')}`).to.have.length(1);
        for (const r of results) {
          if (r === 'locked') continue;
          // The others name the winner.
          expect(r).to.match(/^refused StoreLockedError: .*locked by pid/);
          expect(r).to.contain(`pid ${winners[0]!.child.pid}`);
        }
        await Promise.all(racers.map((r) => killed(r.child)));
      }
    } finally {
      await Promise.all(alive.map((r) => killed(r.child)));
    }
    expect(doubles).to.equal(0);
  });

  it('a released lock is taken at once; the holder files stay bounded', async () => {
    const stateDir = tmp.path;
    for (let i = 0; i < 5; i++) {
      const lock = await StateDirLock.acquire(stateDir, { logger: silentLogger() });
      expect((await readLockOwner(stateDir))?.pid).to.equal(process.pid);
      await lock.release();
      expect(await readLockOwner(stateDir)).to.equal(undefined);
    }
    expect(readdirSync(join(stateDir, LOCK_DIR_NAME)).filter((n) => !n.startsWith('.'))).to.have.length(1);
  });

  it('a second holder in the same process is refused, naming the pid', async () => {
    const lock = await StateDirLock.acquire(tmp.path, { logger: silentLogger() });
    try {
      const err = await StateDirLock.acquire(tmp.path, { logger: silentLogger() }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err).to.be.instanceOf(StoreLockedError);
      expect(err!.message).to.contain(`pid ${process.pid} on ${hostname()}`);
    } finally {
      await lock.release();
    }
  });

  it('a holder whose pid now belongs to another process (pid reuse) or another boot holds nothing', function () {
    const start = processStartTime(process.pid);
    if (start === undefined) this.skip(); // not Linux: no start times to compare
    const base = { pid: process.pid, hostname: hostname(), since: '', nonce: 'x' };
    expect(holderAlive({ ...base, startTime: start })).to.equal(true);
    expect(holderAlive({ ...base, startTime: String(Number(start) + 1) })).to.equal(false);
    expect(holderAlive({ ...base, startTime: start, bootId: 'another-boot' })).to.equal(false);
    expect(holderAlive({ ...base, startTime: start, released: true })).to.equal(false);
    expect(holderAlive({ ...base, hostname: 'elsewhere', pid: 999_999_999 })).to.equal(true);
  });

  it('a damaged holder file (not made by workerctl) does not keep the directory locked', async () => {
    mkdirSync(join(tmp.path, LOCK_DIR_NAME));
    writeFileSync(join(tmp.path, LOCK_DIR_NAME, 'holder.7.json'), '{"pid": ');
    const lock = await StateDirLock.acquire(tmp.path, { logger: silentLogger() });
    expect((await readLockOwner(tmp.path))?.pid).to.equal(process.pid);
    await lock.release();
  });
});
