import { expect } from 'chai';
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { silentLogger } from '../../controller/log.js';
import {
  DEFAULT_DEBOUNCE,
  ManifestWatcher,
  isManifestFile,
  type ChangeBatch,
} from '../../controller/manifest/watch.js';
import { makeTempDir } from '../helpers/temp-dir.js';

/** Resolves with the batches seen once `ms` pass without a new one. */
function collect(batches: ChangeBatch[], quietMs: number): Promise<ChangeBatch[]> {
  return new Promise((resolve) => {
    let seen = -1;
    const tick = () => {
      if (batches.length === seen) return resolve(batches);
      seen = batches.length;
      setTimeout(tick, quietMs);
    };
    setTimeout(tick, quietMs);
  });
}

describe('manifest watcher', function () {
  this.timeout(10_000);
  let dir: { path: string; remove: () => void };
  let watcher: ManifestWatcher | undefined;
  let batches: ChangeBatch[];

  beforeEach(async () => {
    dir = makeTempDir('workerctl-watch-');
    mkdirSync(join(dir.path, 'workers'));
    writeFileSync(join(dir.path, 'workers', 'a.yaml'), 'a: 1\n');
    batches = [];
  });
  afterEach(async () => {
    await watcher?.close();
    watcher = undefined;
    dir.remove();
  });

  async function startWatcher(quietMs = 40, maxWaitMs = 2000): Promise<void> {
    watcher = new ManifestWatcher({
      paths: [dir.path],
      logger: silentLogger(),
      quietMs,
      maxWaitMs,
      onChange: (b) => batches.push(b),
    });
    await watcher.start();
  }

  it('knows manifests from temp files', () => {
    expect(isManifestFile('/x/w.yaml')).to.equal(true);
    expect(isManifestFile('/x/w.YML')).to.equal(true);
    for (const name of ['.w.yaml.swp', '.w.yaml', 'w.yaml~', '#w.yaml#', 'w.yaml.tmp', 'w.json', '4913']) {
      expect(isManifestFile(`/x/${name}`), name).to.equal(false);
    }
  });

  it('notices a symlink swapped over a directory of the watched path within the debounce (git-sync)', async () => {
    // git-sync's layout: the root is a link to a revision's checkout, replaced by a rename.
    for (const rev of ['r1', 'r2', 'r3']) {
      mkdirSync(join(dir.path, rev, 'workers'), { recursive: true });
      writeFileSync(join(dir.path, rev, 'workers', 'a.yaml'), `a: ${rev}\n`);
    }
    symlinkSync('r1', join(dir.path, 'current'));
    const swap = (rev: string) => {
      symlinkSync(rev, join(dir.path, 'next'));
      renameSync(join(dir.path, 'next'), join(dir.path, 'current'));
    };
    watcher = new ManifestWatcher({
      paths: [join(dir.path, 'current', 'workers')],
      logger: silentLogger(),
      quietMs: 40,
      maxWaitMs: 200,
      onChange: (b) => batches.push(b),
    });
    await watcher.start();
    const t0 = Date.now();
    swap('r2');
    await collect(batches, 150);
    expect(batches, 'one batch for the swap').to.have.length(1);
    expect(batches[0]!.firstEventAt - t0, 'seen at once').to.be.below(1000);
    // Watching follows the new checkout: an edit there is seen, the old one is ignored.
    writeFileSync(join(dir.path, 'r2', 'workers', 'a.yaml'), 'a: edited\n');
    await collect(batches, 150);
    writeFileSync(join(dir.path, 'r1', 'workers', 'a.yaml'), 'a: stale\n');
    await collect(batches, 150);
    expect(batches).to.have.length(2);
    swap('r3');
    await collect(batches, 150);
    expect(batches).to.have.length(3);
  });

  it('reports nothing for the files already there', async () => {
    await startWatcher();
    await collect(batches, 150);
    expect(batches).to.have.length(0);
  });

  it('reports an edit, a new file and a removal', async () => {
    await startWatcher();
    writeFileSync(join(dir.path, 'workers', 'a.yaml'), 'a: 2\n');
    await collect(batches, 150);
    writeFileSync(join(dir.path, 'b.yml'), 'b: 1\n');
    await collect(batches, 150);
    rmSync(join(dir.path, 'workers', 'a.yaml'));
    await collect(batches, 250);
    const files = batches.map((b) => b.files.map((f) => f.slice(dir.path.length)));
    expect(files).to.deep.equal([['/workers/a.yaml'], ['/b.yml'], ['/workers/a.yaml']]);
  });

  it('ignores temp files, hidden directories and other file types', async () => {
    await startWatcher();
    mkdirSync(join(dir.path, '.git'));
    writeFileSync(join(dir.path, '.git', 'index.yaml'), 'x');
    writeFileSync(join(dir.path, '.a.yaml.swp'), 'x');
    writeFileSync(join(dir.path, 'a.yaml~'), 'x');
    writeFileSync(join(dir.path, 'notes.txt'), 'x');
    await collect(batches, 200);
    expect(batches).to.have.length(0);
  });

  it('sees an editor atomic save (write temp, rename over) as one change', async () => {
    await startWatcher();
    const tmp = join(dir.path, 'workers', '.a.yaml.tmp123');
    writeFileSync(tmp, 'a: 3\n');
    renameSync(tmp, join(dir.path, 'workers', 'a.yaml'));
    await collect(batches, 250);
    expect(batches).to.have.length(1);
    expect(batches[0].files.map((f) => f.slice(dir.path.length))).to.deep.equal(['/workers/a.yaml']);
  });

  it('coalesces a checkout of 1,000 files written by another process into one batch', async () => {
    // Default debounce (50 ms quiet, 200 ms max wait): the writer takes longer than the max wait.
    await startWatcher(50, 200);
    const script = `const fs = require('fs');
      let i = 0;
      const next = () => { if (i === 1000) return;
        fs.writeFile(process.argv[1] + '/workers/w-' + String(i++).padStart(4, '0') + '.yaml', 'n: 1\\n', next); };
      for (let k = 0; k < 4; k++) next();`;
    const child = spawn(process.execPath, ['-e', script, dir.path], { stdio: 'ignore' });
    await new Promise((r) => child.on('exit', r));
    await collect(batches, 800);
    expect(batches).to.have.length(1);
    expect(batches[0].files).to.have.length(1000);
  });

  it('fires no later than maxWait after the first event while changes keep coming', async () => {
    await startWatcher(80, 200);
    const t0 = Date.now();
    let i = 0;
    const writer = setInterval(() => writeFileSync(join(dir.path, 'workers', 'a.yaml'), `a: ${i++}\n`), 30);
    await new Promise((r) => setTimeout(r, 500));
    clearInterval(writer);
    await collect(batches, 200);
    expect(batches.length).to.be.greaterThan(1);
    expect(batches[0].firstEventAt - t0).to.be.lessThan(200);
  });
  it("sees the rest of a write that goes on after a reload started (within chokidar's change throttle)", async () => {
    // chokidar drops a file's 'change' within 50 ms of the last one it reported; a writer that pauses
    // longer than the quiet period (an in-place save in two writes) must still cause a second batch.
    await startWatcher(10, 200);
    const file = join(dir.path, 'workers', 'a.yaml');
    const t0 = Date.now();
    writeFileSync(file, 'a: 1\n');
    while (batches.length === 0 && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 1));
    expect(batches, 'the first write').to.have.length(1);
    writeFileSync(file, 'a: 1\nb: 2\n');
    const wroteAt = Date.now();
    await collect(batches, 150);
    expect(wroteAt - t0, 'the second write came within the throttle').to.be.below(50);
    expect(batches, 'the second write').to.have.length(2);
  });

  it('issue 11 point 4: a manifest replaced by a dangling symlink is a change (the loader reports it)', async () => {
    await startWatcher();
    const file = join(dir.path, 'workers', 'a.yaml');
    rmSync(file);
    symlinkSync(join(dir.path, 'nowhere.yaml'), file);
    await collect(batches, 300);
    expect(batches.flatMap((b) => b.files)).to.include(file);
  });

  it('issue 11 point 11: a symlink to a large tree outside the manifest directory is not followed, a link inside still is', async () => {
    symlinkSync('/usr', join(dir.path, 'workers', 'usr'));
    mkdirSync(join(dir.path, 'inside'));
    symlinkSync(join(dir.path, 'inside'), join(dir.path, 'workers', 'in'));
    const t0 = Date.now();
    await startWatcher();
    // Watching /usr took minutes and gigabytes; not following it takes no time.
    expect(Date.now() - t0).to.be.below(3000);
    writeFileSync(join(dir.path, 'inside', 'b.yaml'), 'b: 1\n');
    await collect(batches, 300);
    expect(batches.flatMap((b) => b.files).some((f) => f.endsWith('b.yaml'))).to.equal(true);
  });
});

describe('manifest watcher defaults', () => {
  it('keeps the default debounce when options are passed as undefined', async function () {
    this.timeout(5000);
    const dir = makeTempDir('workerctl-watch-');
    const seen: number[] = [];
    const w = new ManifestWatcher({
      paths: [dir.path],
      logger: silentLogger(),
      quietMs: undefined,
      maxWaitMs: undefined,
      onChange: () => seen.push(Date.now()),
    });
    await w.start();
    const t0 = Date.now();
    writeFileSync(join(dir.path, 'a.yaml'), 'a: 1\n');
    await collect([], 400);
    await w.close();
    dir.remove();
    expect(seen).to.have.length(1);
    expect(seen[0] - t0).to.be.at.least(DEFAULT_DEBOUNCE.quietMs - 5);
  });
});

describe('manifest watcher on a single file', () => {
  it('reports edits and atomic saves of a file given directly', async function () {
    this.timeout(5000);
    const dir = makeTempDir('workerctl-watch-');
    const file = join(dir.path, 'fleet.yaml');
    writeFileSync(file, 'a: 1\n');
    const batches: ChangeBatch[] = [];
    const w = new ManifestWatcher({
      paths: [file],
      logger: silentLogger(),
      quietMs: 30,
      onChange: (b) => batches.push(b),
    });
    await w.start();
    writeFileSync(file, 'a: 2\n');
    await collect(batches, 200);
    writeFileSync(join(dir.path, '.fleet.yaml.tmp'), 'a: 3\n');
    renameSync(join(dir.path, '.fleet.yaml.tmp'), file);
    await collect(batches, 300);
    await w.close();
    dir.remove();
    expect(batches.length).to.equal(2);
    for (const b of batches) expect(b.files).to.deep.equal([file]);
  });
});
