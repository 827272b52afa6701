/**
 * The intake's partial merge (reconcile/intake.ts): after a reload it merges and plans only the
 * workers the load can have changed, and must leave the records exactly as a full merge of the same
 * load would. Two reconcile cores (each with its store, against the simulator over HTTP) are fed the
 * same sequence of manifest loads, one partially and one in full, and compared after every step:
 * edits, a worker moved across files, a file renamed, a duplicate name that makes another file invalid
 * and valid again, a deleted file and its settle window, a dangling symlink, an empty file, the
 * mass-delete guard, a worker declared again after its removal was requested.
 */
import { expect } from 'chai';
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IntakeResult } from '../../controller/reconcile/contracts.js';
import { loadManifests } from '../../controller/manifest/load.js';
import { parseSelector } from '../../controller/selector.js';
import type { LoadResult, WorkerRecord } from '../../controller/types.js';
import { startHarness, type Harness } from '../helpers/sim-harness.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { workerYaml } from '../helpers/manifests.js';

const SETTLE_MS = 10_000;

/** The desired state as a full merge decides it (uids are random per store: only their presence). */
function desiredView(records: WorkerRecord[]) {
  return records.map((r) => ({
    name: r.name,
    spec: r.spec,
    specHash: r.specHash,
    generation: r.generation,
    source: r.source,
    removeRequestedAt: r.removeRequestedAt,
    hasUid: typeof r.uid === 'string',
    history: r.status.history.map((e) => `${e.time} ${e.action} ${e.cause}`),
  }));
}

const sorted = (xs: readonly string[]) => [...xs].sort();

describe('partial merge: the workers a reload changed, with the outcome of a full merge', function () {
  this.timeout(60_000);
  let partial: Harness;
  let full: Harness;
  let dir: ReturnType<typeof makeTempDir>;
  /** listWorkers calls on the partial side (a partial merge copies no other record). */
  let partialListings = 0;

  beforeEach(async () => {
    const settings = { removalSettleMs: SETTLE_MS };
    [partial, full] = await Promise.all([startHarness({ settings }), startHarness({ settings })]);
    const list = partial.store.listWorkers.bind(partial.store);
    partial.store.listWorkers = () => {
      partialListings++;
      return list();
    };
    dir = makeTempDir('workerctl-partial-');
  });

  afterEach(async () => {
    await Promise.all([partial?.close(), full?.close()]);
    dir?.remove();
  });

  const file = (name: string) => join(dir.path, name);
  const write = (name: string, ...workers: [string, Record<string, unknown>?][]) => {
    mkdirSync(join(file(name), '..'), { recursive: true });
    writeFileSync(
      file(name),
      workers.map(([w, s]) => workerYaml(w, { deploy: 'OnDemand', ...s })).join('---\n'),
    );
  };

  /** One step: the same load into both; the records and the results must agree. */
  async function step(label: string): Promise<{ result: IntakeResult; load: LoadResult; listed: number }> {
    const load = await loadManifests([dir.path]);
    partialListings = 0;
    const p = await partial.fleet.applyDesired(load, { partial: true });
    const listed = partialListings;
    const f = await full.fleet.applyDesired(load);
    expect(desiredView(partial.store.listWorkers()), label).to.deep.equal(
      desiredView(full.store.listWorkers()),
    );
    expect(sorted(p.changed), `${label}: changed`).to.deep.equal(sorted(f.changed));
    expect(sorted(p.removed), `${label}: removed`).to.deep.equal(sorted(f.removed));
    expect(p.settling, `${label}: settling`).to.deep.equal(f.settling);
    expect(p.plan.massDeleteBlocked, `${label}: mass delete`).to.deep.equal(f.plan.massDeleteBlocked);
    // What the partial plan covers, it plans as the full plan does.
    const covered = new Set(p.planned ?? []);
    expect(p.plan.actions, `${label}: plan`).to.deep.equal(
      f.plan.actions.filter((a) => covered.has(a.worker)),
    );
    return { result: p, load, listed };
  }

  async function advance(ms: number) {
    await Promise.all([partial.clock.advance(ms), full.clock.advance(ms)]);
  }

  it('agrees with a full merge through edits, moves, renames, duplicates, deletions and shields', async () => {
    write('a.yaml', ['a1'], ['a2']);
    write('b.yaml', ['b1']);
    write('c.yaml', ['c1'], ['c2']);
    write('d.yaml', ['d1']);
    write('sub/e.yaml', ['e1']);
    write('z.yaml', ['z1'], ['z2'], ['z3'], ['z4']);
    let r = await step('first load');
    expect(r.result.planned, 'the first merge has nothing to compare with: full').to.equal(undefined);
    expect(r.result.changed).to.have.length(11);

    write('a.yaml', ['a1', { cpus: 3 }], ['a2']);
    r = await step('one worker edited');
    expect(r.result.changed).to.deep.equal(['a1']);
    expect(r.result.planned, 'only the edited worker is planned').to.deep.equal(['a1']);
    expect(r.listed, 'no copy of the whole fleet').to.equal(0);

    write('a.yaml', ['a1', { cpus: 3 }]);
    write('b.yaml', ['b1'], ['a2']);
    r = await step('a2 moved from a.yaml to b.yaml');
    expect(r.result.changed).to.deep.equal([]);
    expect(partial.store.getWorker('a2')!.source!.file).to.equal(file('b.yaml'));

    renameSync(file('sub/e.yaml'), file('sub/f.yaml'));
    r = await step('sub/e.yaml renamed');
    expect(partial.store.getWorker('e1')!.source!.file).to.equal(file('sub/f.yaml'));
    expect(r.result.removed).to.deep.equal([]);

    write('d.yaml', ['d1'], ['c1', { cpus: 8 }], ['d2']);
    r = await step('d.yaml declares c1 too: c.yaml becomes invalid without changing');
    expect(r.load.invalidFiles).to.include.members([file('c.yaml'), file('d.yaml')]);
    expect(r.result.changed).to.deep.equal([]);
    expect(partial.store.getWorker('d2')).to.equal(undefined);

    write('d.yaml', ['d1'], ['d2']);
    r = await step('the duplicate is gone: c.yaml valid again, d2 added');
    expect(r.result.changed).to.deep.equal(['d2']);
    expect(partial.store.getWorker('c1')!.spec.cpus).to.not.equal(8);

    rmSync(file('b.yaml'));
    r = await step('b.yaml deleted: b1 and a2 wait out the settle window');
    expect(r.result.settling?.workers).to.deep.equal(['a2', 'b1']);
    expect(r.result.removed).to.deep.equal([]);

    await advance(SETTLE_MS / 2);
    write('c.yaml', ['c1'], ['c2'], ['c3']);
    r = await step('another file changes inside the window');
    expect(r.result.settling?.workers).to.deep.equal(['a2', 'b1']);

    await advance(SETTLE_MS);
    r = await step('nothing changed on disk, the window is over');
    expect(sorted(r.result.removed)).to.deep.equal(['a2', 'b1']);

    rmSync(file('c.yaml'));
    symlinkSync(file('gone.yaml'), file('c.yaml'));
    r = await step('c.yaml replaced by a dangling symlink');
    await advance(SETTLE_MS * 2);
    r = await step('the symlink still dangles after the window');
    expect(r.result.removed, 'a dangling symlink keeps its workers').to.deep.equal([]);

    writeFileSync(file('d.yaml'), '');
    await advance(SETTLE_MS * 2);
    r = await step('d.yaml emptied');
    expect(r.result.removed, 'an empty file keeps its workers').to.deep.equal([]);

    rmSync(file('c.yaml'));
    write('c.yaml', ['c1'], ['c2'], ['c3']);
    write('d.yaml', ['d1'], ['d2']);
    r = await step('both restored');
    expect(r.result.changed).to.deep.equal([]);

    // A linked directory that dangles keeps what came from under it; once the link itself is gone, no
    // file changed between the two loads (linked/g.yaml was absent from both), only the shield did.
    write('.real/g.yaml', ['g1']);
    symlinkSync(file('.real'), file('linked'));
    r = await step('a directory linked in');
    expect(r.result.changed).to.deep.equal(['g1']);
    rmSync(file('.real'), { recursive: true });
    await advance(SETTLE_MS * 2);
    r = await step('the linked directory is gone: the link dangles');
    expect(r.result.settling).to.equal(undefined);
    rmSync(file('linked'));
    r = await step('the dangling link is removed');
    expect(r.result.settling?.workers).to.deep.equal(['g1']);
    await advance(SETTLE_MS);
    r = await step('g1 past the window');
    expect(r.result.removed).to.deep.equal(['g1']);

    write('b.yaml', ['b1']);
    r = await step('b1 declared again after its removal was requested');
    expect(r.result.changed).to.deep.equal(['b1']);
    expect(partial.store.getWorker('b1')!.removeRequestedAt).to.equal(undefined);

    rmSync(file('z.yaml'));
    rmSync(file('d.yaml'));
    rmSync(file('sub'), { recursive: true });
    await step('three files deleted');
    await advance(SETTLE_MS);
    r = await step('7 of 12 workers undeclared past the window: the mass-delete guard holds them');
    expect(r.result.plan.massDeleteBlocked).to.include({ wouldDelete: 7, of: 12 });
    expect(r.result.removed).to.deep.equal([]);

    partial.settings.allowMassDelete = true;
    full.settings.allowMassDelete = true;
    r = await step('allowed: the held-back removals go through without a file change');
    expect(sorted(r.result.removed)).to.deep.equal(['d1', 'd2', 'e1', 'z1', 'z2', 'z3', 'z4']);
  });

  it('with a label selector every merge is full, within the selector', async () => {
    const selector = parseSelector('site=dc1');
    partial.settings.selector = selector;
    full.settings.selector = selector;
    const labelled = (name: string, site: string, spec: Record<string, unknown> = {}) =>
      workerYaml(name, { deploy: 'OnDemand', ...spec }).replace(
        `  name: ${name}\n`,
        `  name: ${name}\n  labels: { site: ${site} }\n`,
      );
    writeFileSync(file('s.yaml'), [labelled('s1', 'dc1'), labelled('s2', 'dc2')].join('---\n'));
    await step('first load');
    writeFileSync(file('s.yaml'), [labelled('s1', 'dc1', { cpus: 3 }), labelled('s2', 'dc2')].join('---\n'));
    const r = await step('an edit inside the selector');
    expect(r.result.planned, 'a selector narrows the merge its own way: full').to.equal(undefined);
    expect(r.result.changed).to.deep.equal(['s1']);
    expect(partial.store.getWorker('s2')).to.equal(undefined);
  });

  it('falls back to a full merge after a failed save, and when most files changed', async () => {
    for (let i = 0; i < 20; i++) write(`f${i}.yaml`, [`w${i}`]);
    await step('first load');
    for (let i = 0; i < 20; i++) write(`f${i}.yaml`, [`w${i}`, { cpus: 3 }]);
    let r = await step('every file changed');
    expect(r.result.planned, 'a checkout of most files merges in full').to.equal(undefined);
    expect(r.result.changed).to.have.length(20);

    const save = partial.store.saveDesired.bind(partial.store);
    partial.store.saveDesired = () => Promise.reject(new Error('disk full'));
    write('f1.yaml', ['w1', { cpus: 5 }]);
    const load = await loadManifests([dir.path]);
    let failed: unknown;
    await partial.fleet.applyDesired(load, { partial: true }).catch((err: unknown) => (failed = err));
    expect(String(failed)).to.contain('disk full');
    partial.store.saveDesired = save;
    write('f2.yaml', ['w2', { cpus: 5 }]);
    r = await step('after the failure');
    expect(r.result.planned, 'what the failed merge saved is unknown: full').to.equal(undefined);
    expect(sorted(r.result.changed)).to.deep.equal(['w1', 'w2']);
  });
});
