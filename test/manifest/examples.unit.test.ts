import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadManifests } from '../../controller/manifest/load.js';
import { examplesDir } from '../../controller/paths.js';

const invalidDir = join(examplesDir, 'invalid');

/** The `# expect: LINE:COL CODE-OR-MESSAGE` lines at the top of an invalid example. */
function expectations(file: string): { line: number; col: number; what: string }[] {
  const out: { line: number; col: number; what: string }[] = [];
  for (const row of readFileSync(file, 'latin1').split('\n')) {
    const m = /^# expect: (\d+):(\d+) (.+)$/.exec(row);
    if (!m) break;
    out.push({ line: Number(m[1]), col: Number(m[2]), what: m[3]!.trim() });
  }
  return out;
}

describe('spec: examples', () => {
  it('every valid example loads with no diagnostics, and covers every feature of the manifest', async () => {
    const res = await loadManifests([examplesDir]);
    expect(res.diagnostics).to.deep.equal([]);
    expect(res.invalidFiles).to.deep.equal([]);
    expect(res.files.some((f) => f.includes('/invalid/'))).to.equal(false);
    const specs = res.workers.map((w) => w.spec);
    expect(specs.length).to.be.within(8, 12);
    const some = (pred: (s: (typeof specs)[number]) => boolean) => specs.some(pred);
    expect(
      some((s) => s.networks.some((n) => n.ipv4 === 'dhcp')),
      'dhcp',
    ).to.equal(true);
    expect(
      some((s) => s.networks.some((n) => n.ipv4 !== 'dhcp' && n.ipv4.gateway !== undefined)),
      'static+gateway',
    ).to.equal(true);
    expect(
      some((s) => s.networks.some((n) => n.vlan !== undefined)),
      'vlan',
    ).to.equal(true);
    expect(
      some((s) => s.networks.length > 1),
      'two networks',
    ).to.equal(true);
    expect(
      some((s) => s.updates.proxy?.passwordFile !== undefined && s.updates.proxy.username !== undefined),
      'proxy auth',
    ).to.equal(true);
    expect(
      some((s) => !s.updates.enabled),
      'updates off',
    ).to.equal(true);
    expect(
      some((s) => !s.enabled),
      'disabled',
    ).to.equal(true);
    expect(
      some((s) => s.deploy === 'Eager'),
      'Eager',
    ).to.equal(true);
    expect(
      some((s) => s.applyChanges === 'Immediate'),
      'Immediate',
    ).to.equal(true);
    expect(
      some((s) => s.deletionPolicy === 'Orphan'),
      'Orphan',
    ).to.equal(true);
    expect(
      some((s) => Object.keys(s.labels).length > 0),
      'labels',
    ).to.equal(true);
    expect(
      some((s) => s.dns !== 'auto'),
      'dns servers',
    ).to.equal(true);
    expect(new Set(res.workers.map((w) => w.source.file)).size).to.be.below(res.workers.length); // several per file
    expect(new Set(specs.map((s) => s.host))).to.deep.equal(new Set(['pve1', 'pve2', 'pve3']));
    expect(new Set(specs.map((s) => `${s.template}/${s.storage}`))).to.deep.equal(
      new Set(['worker-template/local-lvm']),
    );
  });

  it('the fast and the full parser agree on every valid example (same specs and hashes)', async () => {
    const fast = await loadManifests([examplesDir]);
    const full = await loadManifests([examplesDir], { fastPath: false });
    expect(fast).to.deep.equal(full);
  });

  const files = readdirSync(invalidDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort();

  it('has one invalid example per mistake, each with # expect lines', () => {
    expect(files.length).to.be.above(30);
    for (const f of files) expect(expectations(join(invalidDir, f)), f).to.not.be.empty;
  });

  for (const f of files) {
    it(`invalid example ${f} produces exactly its # expect diagnostics`, async () => {
      const file = join(invalidDir, f);
      const want = expectations(file);
      const res = await loadManifests([file]);
      const unmatched = [...res.diagnostics];
      for (const w of want) {
        const i = unmatched.findIndex(
          (d) => d.line === w.line && d.col === w.col && (d.code === w.what || d.message.includes(w.what)),
        );
        expect(
          i,
          `${f}: no diagnostic ${w.line}:${w.col} ${w.what}; got ${JSON.stringify(unmatched.map((d) => `${d.line}:${d.col} ${d.code}`))}`,
        ).to.be.at.least(0);
        unmatched.splice(i, 1);
      }
      expect(
        unmatched.map((d) => `${d.line}:${d.col} ${d.code}`),
        `${f}: unexpected`,
      ).to.deep.equal([]);
      for (const d of res.diagnostics) {
        expect(d.file).to.equal(file);
        expect(d.message).to.be.a('string').and.not.be.empty;
        expect(d.hint, `${f}: ${d.code} has a hint`).to.be.a('string').and.not.be.empty;
      }
    });
  }

  it('a walk of examples/ skips examples/invalid (it holds .workerctl-ignore); naming it loads it', async () => {
    const walked = await loadManifests([examplesDir]);
    const named = await loadManifests([invalidDir]);
    expect(walked.files.filter((f) => f.startsWith(invalidDir))).to.deep.equal([]);
    expect(named.files).to.have.length(files.length);
  });
});
