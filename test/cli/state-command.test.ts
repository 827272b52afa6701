/**
 * `workerctl state check` and `workerctl state restore` through the real binary (issue 11 point
 * 10): a damaged database is named with every problem and exit 1; restore refuses while a
 * controller holds the directory, puts the last good copy back, and keeps the file it replaced.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DB_FILE_NAME, LowdbStore } from '../../controller/store/lowdb-store.js';
import { makeRecord } from '../helpers/builders.js';
import { runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/temp-dir.js';

describe('workerctl state check / restore', () => {
  let tmp: { path: string; remove: () => void };
  let stateDir: string;
  let file: string;
  beforeEach(() => {
    tmp = makeTempDir('workerctl-state-');
    stateDir = join(tmp.path, 'state');
    file = join(stateDir, DB_FILE_NAME);
  });
  afterEach(() => tmp.remove());

  it('checks, refuses to restore under a running writer, restores the .bak and keeps the damaged file', async function () {
    this.timeout(30_000);
    let store = new LowdbStore({ stateDir });
    await store.open();
    await store.seedWorker(makeRecord('w1'));
    await store.close();
    store = new LowdbStore({ stateDir });
    await store.open(); // the clean open writes .bak
    await store.close();
    const good = readFileSync(file, 'utf8');

    let res = await runCli(['state', 'check', '--state-dir', stateDir]);
    expect(res.code, res.stderr).to.equal(0);
    expect(res.stdout).to.contain('ok (schema version 2, 1 worker, 0 sessions').and.to.contain('lock: free');

    const damaged = JSON.parse(good) as { workers: { w1: { status: unknown; history: unknown } } };
    damaged.workers.w1.status = 'broken';
    damaged.workers.w1.history = {};
    writeFileSync(file, JSON.stringify(damaged));
    res = await runCli(['state', 'check', '--state-dir', stateDir]);
    expect(res.code).to.equal(1);
    expect(res.stdout)
      .to.contain('DAMAGED')
      .and.to.contain('/workers/w1/status')
      .and.to.contain('/workers/w1/history');
    expect(res.stdout).to.contain('workerctl state restore');

    // A writer holds the directory: restore is refused and changes nothing.
    const holder = new LowdbStore({ stateDir, readOnly: false });
    writeFileSync(file, good);
    await holder.open();
    writeFileSync(file, JSON.stringify(damaged));
    res = await runCli(['state', 'restore', '--state-dir', stateDir]);
    expect(res.code).to.equal(1);
    expect(res.stderr).to.contain(`locked by pid ${process.pid}`);
    await holder.close().catch(() => {});
    writeFileSync(file, JSON.stringify(damaged));

    res = await runCli(['state', 'restore', '--state-dir', stateDir]);
    expect(res.code, res.stderr).to.equal(0);
    expect(res.stdout).to.contain(`restored ${file} from ${file}.bak`);
    expect(JSON.parse(readFileSync(file, 'utf8'))).to.deep.equal(JSON.parse(good));
    const kept = readdirSync(stateDir).filter((n) => n.startsWith(`${DB_FILE_NAME}.replaced-`));
    expect(kept).to.have.length(1);
    expect(JSON.parse(readFileSync(join(stateDir, kept[0]!), 'utf8'))).to.deep.equal(damaged);

    // A damaged source is refused.
    writeFileSync(join(tmp.path, 'bad.json'), 'null');
    res = await runCli(['state', 'restore', '--state-dir', stateDir, '--from', join(tmp.path, 'bad.json')]);
    expect(res.code).to.equal(1);
    expect(res.stderr).to.contain('not a usable database').and.to.contain('nothing was changed');
    expect(JSON.parse(readFileSync(file, 'utf8'))).to.deep.equal(JSON.parse(good));
  });
});
