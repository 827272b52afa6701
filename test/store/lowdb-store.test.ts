import { expect } from 'chai';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StoreCorruptError, StoreLockedError } from '../../controller/errors.js';
import { DB_FILE_NAME, LowdbStore } from '../../controller/store/lowdb-store.js';
import { STORE_SCHEMA_VERSION } from '../../controller/store/store.js';
import { splitRecord } from '../../controller/store/sections.js';
import type { StoreData } from '../../controller/store/store.js';
import { FakeClock } from '../helpers/clock.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { makeRecord, makeSession, makeStatus, makeReconcileStatus } from '../helpers/builders.js';

type Json = Record<string, unknown>;

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'store-child.js');

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

/** Starts the child fixture and resolves once it printed `line` (rejects if it exits first). */
function startChild(
  mode: string,
  stateDir: string,
  line = 'ready',
): Promise<{ child: ChildProcessWithoutNullStreams; output: () => string }> {
  const child = spawn(process.execPath, [CHILD, mode, stateDir], { stdio: 'pipe' });
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.split('\n').includes(line)) resolve({ child, output: () => out });
    });
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`child exited (${code}) before "${line}": ${out}`)));
  });
}

function exited(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.on('exit', (code) => resolve(code));
  });
}

describe('LowdbStore on disk', () => {
  let tmp: { path: string; remove: () => void };
  let stateDir: string;
  let file: string;
  const open: LowdbStore[] = [];

  async function openStore(options: { readOnly?: boolean } = {}): Promise<LowdbStore> {
    const store = new LowdbStore({ stateDir, clock: new FakeClock(), coalesceMs: 50, ...options });
    await store.open();
    open.push(store);
    return store;
  }

  beforeEach(() => {
    tmp = makeTempDir('workerctl-lowdb-');
    stateDir = join(tmp.path, 'state');
    file = join(stateDir, DB_FILE_NAME);
  });

  afterEach(async () => {
    for (const s of open.splice(0)) await s.close().catch(() => {});
    tmp.remove();
  });

  it('creates the state directory and keeps <stateDir>/workerctl.db.json as readable JSON', async () => {
    const store = await openStore();
    await store.seedWorker(makeRecord('w1'));
    const text = readFileSync(file, 'utf8');
    expect(text).to.contain(`\n  "schemaVersion": ${STORE_SCHEMA_VERSION},`);
    const data = JSON.parse(text) as StoreData;
    expect(data.schemaVersion).to.equal(STORE_SCHEMA_VERSION);
    expect(data.workers.w1).to.deep.equal(splitRecord(makeRecord('w1')));
  });

  it('only ever shows complete JSON to a reader while writes go on, and leaves no temp file', async () => {
    const store = await openStore();
    let reads = 0;
    let writing = true;
    const reader = (async () => {
      while (writing) {
        if (existsSync(file)) {
          JSON.parse(readFileSync(file, 'utf8')); // throws on a partial file
          reads++;
        }
        await new Promise<void>((r) => setImmediate(r));
      }
    })();
    for (let i = 0; i < 60; i++) {
      await store.seedWorker(
        makeRecord(`w${i % 20}`, {
          generation: i,
          status: makeStatus({ lastError: 'x'.repeat(1000 + i * 50) }),
        }),
      );
    }
    writing = false;
    await reader;
    expect(reads).to.be.greaterThan(10);
    await store.close();
    expect(readdirSync(stateDir).filter((n) => n.endsWith('.tmp'))).to.deep.equal([]);
  });

  it('a crash in the middle of writing leaves a complete file, and a restart takes over the dead lock', async function () {
    this.timeout(15000);
    const { child } = await startChild('write-loop', stateDir, 'wrote 20');
    child.kill('SIGKILL');
    await exited(child);
    // The child's lock is still on disk; its process is gone.
    expect(existsSync(join(stateDir, 'workerctl.lock'))).to.equal(true);
    const store = await openStore();
    const workers = store.listWorkers();
    const count = store.getMeta<number>('count')!;
    expect(workers.length).to.be.greaterThan(20);
    expect(count === workers.length || count === workers.length - 1).to.equal(true);
    for (let i = 0; i < workers.length; i++)
      expect(store.getWorker(`w${i}`)!.status.history).to.have.length(50);
  });

  it('refuses a second writer in the same process with StoreLockedError naming the directory and pid', async () => {
    const first = await openStore();
    await first.seedWorker(makeRecord('w1'));
    const second = new LowdbStore({ stateDir });
    const err = await rejection(second.open());
    expect(err).to.be.instanceOf(StoreLockedError);
    expect(err.message).to.contain(stateDir).and.to.contain(`pid ${process.pid}`);
    expect(JSON.parse(readFileSync(file, 'utf8')).workers.w1.name).to.equal('w1');
    await first.close();
    await second.open();
    open.push(second);
    expect(second.getWorker('w1')!.name).to.equal('w1');
  });

  it('refuses a writer while another process holds the directory; read-only opening still works', async function () {
    this.timeout(15000);
    const { child } = await startChild('hold', stateDir);
    try {
      const err = await rejection(new LowdbStore({ stateDir }).open());
      expect(err).to.be.instanceOf(StoreLockedError);
      expect(err.message).to.contain(stateDir).and.to.contain(`pid ${child.pid}`);
      const ro = await openStore({ readOnly: true });
      expect(ro.getWorker('child-w')!.name).to.equal('child-w');
    } finally {
      child.stdin.end();
      expect(await exited(child)).to.equal(0);
    }
    const store = await openStore();
    expect(store.getWorker('child-w')!.name).to.equal('child-w');
  });

  it('a child process is refused while this process holds the directory', async function () {
    this.timeout(15000);
    await openStore();
    const child = spawn(process.execPath, [CHILD, 'hold', stateDir], { stdio: 'pipe' });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    expect(await exited(child)).to.equal(3);
    expect(out).to.contain('StoreLockedError').and.to.contain(`pid ${process.pid}`);
  });

  it('migrates a v0 file, keeps the original as .v0.bak, and writes the new version', async () => {
    mkdirSync(stateDir, { recursive: true });
    const v0 = { workers: [makeRecord('old')], sessions: [makeSession('s1')] };
    writeFileSync(file, JSON.stringify(v0));
    const store = await openStore();
    expect(store.getWorker('old')!.name).to.equal('old');
    expect(JSON.parse(readFileSync(file, 'utf8')).schemaVersion).to.equal(STORE_SCHEMA_VERSION);
    expect(JSON.parse(readFileSync(`${file}.v0.bak`, 'utf8'))).to.deep.equal(v0);
  });

  it('a read-only open migrates in memory only and never writes', async () => {
    mkdirSync(stateDir, { recursive: true });
    const text = JSON.stringify({ workers: [makeRecord('old')] });
    writeFileSync(file, text);
    const ro = await openStore({ readOnly: true });
    expect(ro.getWorker('old')!.name).to.equal('old');
    expect(readFileSync(file, 'utf8')).to.equal(text);
    expect(readdirSync(stateDir)).to.deep.equal([DB_FILE_NAME]);
  });

  it('refuses a file from a newer version and leaves it untouched, without keeping the lock', async () => {
    mkdirSync(stateDir, { recursive: true });
    const text = JSON.stringify({ schemaVersion: 99, workers: {}, sessions: {}, meta: {}, future: true });
    writeFileSync(file, text);
    for (let i = 0; i < 2; i++) {
      const err = await rejection(new LowdbStore({ stateDir }).open());
      expect(err).to.be.instanceOf(StoreCorruptError);
      expect(err.message).to.contain(file).and.to.contain('schemaVersion 99');
    }
    expect(readFileSync(file, 'utf8')).to.equal(text);
  });

  it('refuses an unparseable file naming file:line:col and how to recover, and never overwrites it', async () => {
    mkdirSync(stateDir, { recursive: true });
    const text = '{\n  "schemaVersion": 1,\n  "workers": {\n    "w1": {"name": "w1",, }\n';
    writeFileSync(file, text);
    const err = await rejection(new LowdbStore({ stateDir }).open());
    expect(err).to.be.instanceOf(StoreCorruptError);
    expect(err.message).to.contain(`${file}:4:`);
    expect(err.message).to.contain('.bak').and.to.contain('left untouched');
    const ro = await rejection(new LowdbStore({ stateDir, readOnly: true }).open());
    expect(ro).to.be.instanceOf(StoreCorruptError);
    expect(readFileSync(file, 'utf8')).to.equal(text);
  });

  it('reports a truncated file at its end', async () => {
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(file, '{\n  "schemaVersion": 1,\n  "wor');
    const err = await rejection(new LowdbStore({ stateDir }).open());
    expect(err).to.be.instanceOf(StoreCorruptError);
    expect(err.message).to.contain(`${file}:3:`);
  });

  it('refuses a well-formed file with the wrong shape, naming the JSON pointer', async () => {
    mkdirSync(stateDir, { recursive: true });
    const bad = {
      schemaVersion: 1,
      workers: { w1: { name: 'w2', spec: {}, status: { history: [] }, generation: 1 } },
      sessions: {},
      meta: {},
    };
    writeFileSync(file, JSON.stringify(bad));
    const err = await rejection(new LowdbStore({ stateDir }).open());
    expect(err).to.be.instanceOf(StoreCorruptError);
    expect(err.message).to.contain('/workers/w1/name');
  });

  it('issue 11 point 10: a file holding null is refused, not opened empty; the file and .bak stay', async () => {
    let store = await openStore();
    await store.seedWorker(makeRecord('w1'));
    await store.close();
    store = await openStore(); // writes .bak
    await store.close();
    const bak = readFileSync(`${file}.bak`, 'utf8');
    writeFileSync(file, 'null\n');
    for (const readOnly of [false, true]) {
      const err = await rejection(new LowdbStore({ stateDir, readOnly }).open());
      expect(err).to.be.instanceOf(StoreCorruptError);
      expect(err.message).to.contain(file).and.to.contain('null').and.to.contain('state restore');
    }
    expect(readFileSync(file, 'utf8')).to.equal('null\n');
    expect(readFileSync(`${file}.bak`, 'utf8')).to.equal(bak);
  });

  it('issue 11 point 10: a record with a wrong type is refused naming its pointer, and never replaces .bak', async () => {
    let store = await openStore();
    await store.seedWorker(makeRecord('w1'));
    await store.seedWorker(makeRecord('w2'));
    await store.close();
    store = await openStore();
    await store.close();
    const bak = readFileSync(`${file}.bak`, 'utf8');
    const cases: [string, (d: StoreData) => void][] = [
      ['/workers/w1/status/conditions', (d) => ((d.workers.w1!.status as unknown as Json).conditions = 'x')],
      [
        '/workers/w2/desired/spec/networks',
        (d) => ((d.workers.w2!.desired.spec as unknown as Json).networks = 5),
      ],
      [
        '/workers/w1/history/0/time',
        (d) => (d.workers.w1!.history as unknown as Json[]).splice(0, 0, { time: 1 }),
      ],
      ['/workers/w2/inventory/vmid', (d) => ((d.workers.w2!.inventory as unknown as Json).vmid = '100')],
      [
        '/workers/w1/lifecycle/sessions',
        (d) => ((d.workers.w1!.lifecycle as unknown as Json).sessions = null),
      ],
      ['/workers/w2/desired/revision', (d) => ((d.workers.w2!.desired as unknown as Json).revision = 7)],
      ['/meta/manifests/revision', (d) => (d.meta.manifests = { since: 'x', revision: ['a'] })],
    ];
    const good = JSON.parse(readFileSync(file, 'utf8')) as StoreData;
    for (const [pointer, damage] of cases) {
      const data = structuredClone(good);
      damage(data);
      const text = JSON.stringify(data);
      writeFileSync(file, text);
      const err = await rejection(new LowdbStore({ stateDir }).open());
      expect(err, pointer).to.be.instanceOf(StoreCorruptError);
      expect(err.message, pointer).to.contain(pointer);
      expect(err.message).not.to.match(/TypeError|Cannot read/);
      expect(readFileSync(file, 'utf8')).to.equal(text);
      expect(readFileSync(`${file}.bak`, 'utf8')).to.equal(bak);
    }
  });

  it('reopens a record in the middle of a deploy: every intent op, deploy progress and a clone leftover', async () => {
    let store = await openStore();
    const rec = makeRecord('w1');
    const path = {
      kind: 'migrate' as const,
      template: { vmid: 9000, node: 'pve2' },
      cloneStorage: 'local-lvm',
      cloneNode: 'pve2',
      node: 'pve1',
      storage: 'local-lvm',
      disk: 'scsi0',
    };
    rec.vmid = 101;
    rec.node = 'pve2';
    rec.intent = {
      op: 'migrate',
      node: 'pve2',
      vmid: 101,
      startedAt: '2026-01-01T00:00:00Z',
      upid: 'UPID:x',
      source: 9000,
    };
    rec.deploy = { path, steps: ['migrate', 'finish'] };
    rec.leftover = { vmid: 102, node: 'pve2', reason: 'clone task failed' };
    await store.seedWorker(rec);
    await store.close();
    store = await openStore();
    const back = store.getWorker('w1');
    expect(back?.deploy?.steps).to.deep.equal(['migrate', 'finish']);
    expect(back?.leftover?.vmid).to.equal(102);
    expect(back?.intent?.op).to.equal('migrate');
    await store.close();
  });

  it('keeps a copy of the file that opened cleanly as .bak', async () => {
    let store = await openStore();
    await store.seedWorker(makeRecord('w1'));
    await store.close();
    store = await openStore();
    expect(JSON.parse(readFileSync(`${file}.bak`, 'utf8')).workers.w1.name).to.equal('w1');
  });

  it('removes temp files a crash left behind', async () => {
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(join(stateDir, `.${DB_FILE_NAME}.12345.tmp`), '{"half');
    await openStore();
    expect(readdirSync(stateDir).filter((n) => n.endsWith('.tmp'))).to.deep.equal([]);
  });

  it('read-only over a missing directory is empty and creates nothing', async () => {
    const ro = await openStore({ readOnly: true });
    expect(ro.listWorkers()).to.deep.equal([]);
    expect(existsSync(stateDir)).to.equal(false);
  });

  it('a read-only store sees later writes after reload', async () => {
    const rw = await openStore();
    const ro = await openStore({ readOnly: true });
    await rw.seedWorker(makeRecord('late'));
    expect(ro.getWorker('late')).to.equal(undefined);
    await ro.reload();
    expect(ro.getWorker('late')!.name).to.equal('late');
  });

  it('stops writing once another process took its lock over', async function () {
    this.timeout(10000);
    const store = new LowdbStore({ stateDir, lockCheckMs: 100 });
    await store.open();
    open.push(store);
    await store.seedWorker(makeRecord('w1'));
    // Its lock removed by hand: the holder notices and stops writing.
    rmSync(join(stateDir, 'workerctl.lock'), { recursive: true });
    const deadline = Date.now() + 5000;
    let err: Error | undefined;
    while (!err && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      err = await store.seedWorker(makeRecord('w2')).then(
        () => undefined,
        (e: Error) => e,
      );
    }
    expect(err).to.be.instanceOf(StoreLockedError);
    expect(err!.message).to.contain('lost the lock');
    expect(() => store.saveStatus('w1', makeReconcileStatus())).to.throw(StoreLockedError);
  });

  it('a failed write rejects the durable save, keeps the change in memory, and the next write carries it', async () => {
    const store = await openStore();
    await store.seedWorker(makeRecord('w1'));
    // A directory where the temp file goes makes the next write fail.
    const blocker = join(stateDir, `.${DB_FILE_NAME}.${process.pid}.tmp`);
    mkdirSync(blocker);
    const err = await rejection(store.seedWorker(makeRecord('w2')));
    expect((err as NodeJS.ErrnoException).code).to.equal('EISDIR');
    expect(store.stats().failedWrites).to.equal(1);
    expect(store.getWorker('w2')!.name).to.equal('w2');
    expect(JSON.parse(readFileSync(file, 'utf8')).workers.w2).to.equal(undefined);
    rmdirSync(blocker);
    await store.flush();
    expect(JSON.parse(readFileSync(file, 'utf8')).workers.w2.name).to.equal('w2');
  });
});
