/**
 * Deletion needs positive evidence (issue 11 points 4, 5, 6): a worker's VM is deleted only when a
 * manifest set that reads cleanly no longer declares it and has not for the settle window. A
 * dangling or looping symlink, a rewrite in place (truncate, pause, write), an empty file keep the
 * workers; a file restored while its deletions run brings its workers back at once. The real
 * watcher, loader, store and reconcile core against the simulator over HTTP.
 */
import { expect } from 'chai';
import { rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { E2eEnv } from '../helpers/app-env.js';
import { eventually } from '../helpers/eventually.js';
import { workerYaml } from '../helpers/manifests.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('deletion needs positive evidence', function () {
  this.timeout(60_000);
  let env: E2eEnv;
  /** Workers ever marked for removal in this test. */
  let marked: Set<string>;

  afterEach(async () => {
    await env?.dispose();
  });

  async function startWith(files: Record<string, string>, removalSettleMs: number) {
    env = new E2eEnv({ settings: { removalSettleMs } });
    for (const [f, text] of Object.entries(files)) env.write(f, text);
    await env.start();
    marked = new Set();
    env.store.onWorkerChange((name, part) => {
      if (part === 'desired' && env.store.getWorker(name)?.removeRequestedAt) marked.add(name);
    });
    await env.converged();
  }

  const fleet = () => ({
    'a.yaml': workerYaml('ev-a'),
    'b.yaml': workerYaml('ev-b'),
    'c.yaml': workerYaml('ev-c'),
  });

  it('issue 11 point 4: a manifest replaced by a dangling or a looping symlink deletes nothing', async () => {
    await startWith(fleet(), 0);
    const vmid = env.vmsNamed('ev-c')[0]!.vmid;
    const c = join(env.manifests, 'c.yaml');
    const codes: string[][] = [];
    env.controller.on('loaded', (e) => codes.push(e.load.diagnostics.map((d) => d.code)));
    rmSync(c);
    symlinkSync(join(env.manifests, 'gone.yaml'), c);
    await eventually(() => codes.some((x) => x.includes('path.dangling')));
    await env.controller.resync();
    rmSync(c);
    symlinkSync(c, c); // a loop
    await env.controller.resync();
    expect(codes.at(-1)).to.include('path.dangling');
    await env.controller.waitForIdle();
    expect(marked.has('ev-c')).to.equal(false);
    expect(env.sim.sim.getVm(vmid)).to.not.equal(undefined);
    expect(env.record('ev-c')?.removeRequestedAt).to.equal(undefined);
    rmSync(c);
    writeFileSync(c, workerYaml('ev-c'));
    await env.controller.resync();
    await env.converged();
    expect(env.vmsNamed('ev-c').map((v) => v.vmid)).to.deep.equal([vmid]);
  });

  it('issue 11 point 5: rewrites in place (truncate, pause 80 ms, write back) delete nothing, 12 of 12', async () => {
    await startWith(fleet(), 0);
    const vmid = env.vmsNamed('ev-c')[0]!.vmid;
    const c = join(env.manifests, 'c.yaml');
    const text = workerYaml('ev-c');
    for (let trial = 0; trial < 12; trial++) {
      truncateSync(c, 0);
      await sleep(80);
      writeFileSync(c, text.slice(0, 20), { flag: 'r+' });
      writeFileSync(c, text);
      await sleep(40);
    }
    await env.controller.resync();
    await env.converged();
    expect([...marked]).to.deep.equal([]);
    expect(env.vmsNamed('ev-c').map((v) => v.vmid)).to.deep.equal([vmid]);
  });

  it('the settle window: a half-written file that declares fewer workers for a moment deletes nothing; a real removal goes through after it', async () => {
    const two = workerYaml('ev-c') + '---\n' + workerYaml('ev-d');
    await startWith({ ...fleet(), 'c.yaml': two }, 1500);
    const d = env.vmsNamed('ev-d')[0]!.vmid;
    // A valid prefix: ev-d is missing for 300 ms.
    env.write('c.yaml', workerYaml('ev-c'));
    await sleep(300);
    env.write('c.yaml', two);
    await sleep(1800);
    await env.controller.resync();
    await env.converged();
    expect(marked.has('ev-d')).to.equal(false);
    expect(env.sim.sim.getVm(d)).to.not.equal(undefined);
    // Removed for good: gone after the window, not before.
    const t0 = Date.now();
    env.write('c.yaml', workerYaml('ev-c'));
    await eventually(() => env.sim.sim.getVm(d) === undefined && env.record('ev-d') === undefined, 10_000);
    expect(Date.now() - t0).to.be.at.least(1400);
  });

  it('issue 11 point 6: a file restored while its deletion runs brings its worker back at once', async () => {
    await startWith(fleet(), 0);
    const old = env.vmsNamed('ev-c')[0]!.vmid;
    // The delete task takes a while, so the file is back before it ends.
    env.sim.sim.setFault({ kind: 'slowTask', taskType: 'qmdestroy', factor: 400, count: 1 });
    let deleting = false;
    env.store.onWorkerChange((name, part) => {
      if (name === 'ev-c' && part === 'inventory' && env.store.getWorker(name)?.intent?.op === 'delete')
        deleting = true;
    });
    env.remove('c.yaml');
    await eventually(() => deleting, 10_000);
    env.write('c.yaml', workerYaml('ev-c'));
    await eventually(() => env.record('ev-c')?.removeRequestedAt === undefined);
    await env.converged(15_000);
    expect(env.record('ev-c')).to.not.equal(undefined);
    const now = env.vmsNamed('ev-c');
    expect(now).to.have.length(1);
    expect(now[0]!.vmid).to.not.equal(old);
    expect(env.sim.sim.getVm(old)).to.equal(undefined);
    expect(env.record('ev-c')?.vmid).to.equal(now[0]!.vmid);
  });
});
