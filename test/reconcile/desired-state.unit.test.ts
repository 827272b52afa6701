import { expect } from 'chai';
import { mergeDesired } from '../../controller/reconcile/desired-state.js';
import { DEFAULT_SETTINGS } from '../../controller/reconcile/settings.js';
import type { LoadResult, WorkerRecord } from '../../controller/types.js';
import { workerRecord as record, eagerSpec as spec } from '../helpers/builders.js';

const NOW = '2026-01-01T00:00:00.000Z';
let n = 0;
const uid = () => `u${++n}`;

function load(names: string[], invalidFiles: string[] = [], hashOf = (s: string) => `hash-${s}`): LoadResult {
  return {
    workers: names.map((name) => ({
      spec: spec(name),
      source: { file: `workers/${name}.yaml`, line: 1, col: 1 },
      specHash: hashOf(name),
    })),
    diagnostics: [],
    files: names.map((x) => `workers/${x}.yaml`),
    invalidFiles,
  };
}

function recs(names: string[]): WorkerRecord[] {
  return names.map((name) =>
    record(spec(name), { source: { file: `workers/${name}.yaml`, line: 1, col: 1 } }),
  );
}

describe('mergeDesired', () => {
  it('adds new workers with generation 1 and a uid', () => {
    const m = mergeDesired([], load(['a']), DEFAULT_SETTINGS, NOW, uid);
    expect(m.changed).to.deep.equal(['a']);
    expect(m.save[0]).to.include({ name: 'a', generation: 1 });
    expect(m.save[0]!.uid).to.match(/^u\d+$/);
    expect(m.save[0]!.status.phase).to.equal('Configured');
  });

  it('bumps the generation only when the spec hash changes', () => {
    const same = mergeDesired(recs(['a']), load(['a']), DEFAULT_SETTINGS, NOW, uid);
    expect(same.save).to.deep.equal([]);
    const changed = mergeDesired(
      recs(['a']),
      load(['a'], [], () => 'new'),
      DEFAULT_SETTINGS,
      NOW,
      uid,
    );
    expect(changed.changed).to.deep.equal(['a']);
    expect(changed.save[0]!.generation).to.equal(2);
  });

  it('invariant 1: workers of an invalid file keep their spec and are not removed', () => {
    const m = mergeDesired(
      recs(['a', 'b']),
      load(['a', 'b'], ['workers/a.yaml'], () => 'changed'),
      DEFAULT_SETTINGS,
      NOW,
      uid,
    );
    expect(m.changed).to.deep.equal(['b']);
    expect(m.save.map((r) => r.name)).to.deep.equal(['b']);
    const gone = mergeDesired(recs(['a', 'b']), load(['b'], ['workers/a.yaml']), DEFAULT_SETTINGS, NOW, uid);
    expect(gone.removed).to.deep.equal([]);
  });

  it('invariant 2: removals above the threshold, or of every worker, are all held back', () => {
    const five = recs(['a', 'b', 'c', 'd', 'e']);
    const three = mergeDesired(five, load(['a', 'b']), DEFAULT_SETTINGS, NOW, uid);
    expect(three.removed).to.deep.equal([]);
    expect(three.massDeleteBlocked).to.include({ wouldDelete: 3, of: 5 });
    const two = mergeDesired(five, load(['a', 'b', 'c']), DEFAULT_SETTINGS, NOW, uid);
    expect(two.removed).to.deep.equal(['d', 'e']);
    expect(two.massDeleteBlocked).to.equal(undefined);
    const all = mergeDesired(recs(['a', 'b']), load([]), DEFAULT_SETTINGS, NOW, uid);
    expect(all.removed).to.deep.equal([]);
    expect(all.massDeleteBlocked).to.include({ wouldDelete: 2, of: 2 });
    const allowed = mergeDesired(
      recs(['a', 'b']),
      load([]),
      { ...DEFAULT_SETTINGS, allowMassDelete: true },
      NOW,
      uid,
    );
    expect(allowed.removed).to.deep.equal(['a', 'b']);
  });

  it('a worker back in the manifests is no longer removed', () => {
    const r = recs(['a', 'b', 'c']);
    r[0]!.removeRequestedAt = NOW;
    const m = mergeDesired(r, load(['a', 'b', 'c']), DEFAULT_SETTINGS, NOW, uid);
    expect(m.changed).to.deep.equal(['a']);
    expect(m.save[0]!.removeRequestedAt).to.equal(undefined);
  });
});
