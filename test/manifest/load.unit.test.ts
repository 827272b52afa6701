import { expect } from 'chai';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isManifestFileName } from '../../controller/manifest/walk.js';
import { loadManifests } from '../../controller/manifest/load.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { workerDoc, yamlDocs } from '../helpers/manifests.js';

describe('spec: loadManifests', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeEach(() => (tmp = makeTempDir()));
  afterEach(() => tmp.remove());

  const write = (rel: string, text: string | Buffer): string => {
    const file = join(tmp.path, rel);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, text);
    return file;
  };

  it('walks directories recursively in sorted order, *.yaml and *.yml only, skipping hidden and editor files', async () => {
    write('b.yaml', yamlDocs(workerDoc('b')));
    write('a/z.yml', yamlDocs(workerDoc('z')));
    write('a/c.yaml', yamlDocs(workerDoc('c')));
    for (const skipped of [
      '.hidden.yaml',
      '.#lock.yaml',
      'x.yaml~',
      '#x.yaml#',
      '.x.yaml.swp',
      '4913',
      'notes.txt',
      'x.json',
      '.git/config.yaml',
      '.cache/w.yaml',
    ]) {
      write(skipped, 'not: [valid');
    }
    const res = await loadManifests([tmp.path]);
    expect(res.files).to.deep.equal([
      join(tmp.path, 'a/c.yaml'),
      join(tmp.path, 'a/z.yml'),
      join(tmp.path, 'b.yaml'),
    ]);
    expect(res.workers.map((w) => w.spec.name)).to.deep.equal(['c', 'z', 'b']);
    expect(res.diagnostics).to.deep.equal([]);
  });

  it('tells manifest names from editor and hidden files', () => {
    const cases: [string, boolean][] = [
      ['w.yaml', true],
      ['w.yml', true],
      ['w.YAML.bak', false],
      ['.w.yaml', false],
      ['w.yaml~', false],
      ['#w.yaml#', false],
      ['.#w.yaml', false],
      ['4913', false],
    ];
    for (const [name, ok] of cases) expect(isManifestFileName(name), name).to.equal(ok);
  });

  it('skips a subdirectory holding .workerctl-ignore in a walk, but loads it when named', async () => {
    write('ok.yaml', yamlDocs(workerDoc('ok')));
    write('broken/.workerctl-ignore', '');
    const bad = write('broken/bad.yaml', 'spec: [');
    expect((await loadManifests([tmp.path])).diagnostics).to.deep.equal([]);
    const named = await loadManifests([join(tmp.path, 'broken')]);
    expect(named.invalidFiles).to.deep.equal([bad]);
  });

  it('loads a file named explicitly whatever its name, once even when also inside a named directory', async () => {
    const f = write('w.txt', yamlDocs(workerDoc('w')));
    write('d/x.yaml', yamlDocs(workerDoc('x')));
    const res = await loadManifests([f, join(tmp.path, 'd'), join(tmp.path, 'd', 'x.yaml')]);
    expect(res.files).to.deep.equal([f, join(tmp.path, 'd/x.yaml')]);
    expect(res.workers).to.have.length(2);
  });

  it('survives a symlink loop', async () => {
    write('d/w.yaml', yamlDocs(workerDoc('w')));
    symlinkSync(tmp.path, join(tmp.path, 'd', 'loop'));
    const res = await loadManifests([tmp.path]);
    expect(res.workers.map((w) => w.spec.name)).to.deep.equal(['w']);
  });

  it('reports a missing path as an error naming it', async () => {
    const missing = join(tmp.path, 'nope');
    const res = await loadManifests([missing]);
    expect(res.diagnostics.map((d) => [d.file, d.line, d.col, d.code])).to.deep.equal([
      [missing, 1, 1, 'path.missing'],
    ]);
    expect(res.invalidFiles).to.deep.equal([missing]);
  });

  it('rejects a file over the size limit without parsing it', async () => {
    const big = write('big.yaml', `# ${'x'.repeat(2000)}\n${yamlDocs(workerDoc('big'))}`);
    const res = await loadManifests([big], { maxFileBytes: 1000 });
    expect(res.diagnostics.map((d) => [d.line, d.col, d.code])).to.deep.equal([[1, 1, 'file.too-large']]);
    expect((await loadManifests([big])).workers).to.have.length(1);
  });

  it('returns results in the same order whatever the concurrency', async () => {
    for (let i = 0; i < 40; i++)
      write(`f${String(i).padStart(2, '0')}.yaml`, yamlDocs(workerDoc(`w${i}`), workerDoc(`v${i}`)));
    write('f07.yaml', 'spec: {');
    const one = await loadManifests([tmp.path], { concurrency: 1 });
    const many = await loadManifests([tmp.path], { concurrency: 16 });
    expect(many).to.deep.equal(one);
    expect(one.workers).to.have.length(78);
  });

  it('invariant 1: an invalid, unreadable or half-written manifest is reported with file:line:col and its file contributes no worker', async () => {
    const good = write('good.yaml', yamlDocs(workerDoc('good')));
    const full = yamlDocs(
      workerDoc('first'),
      workerDoc('second', (d) => (d.spec.cpus = 8)),
    );
    // Half-written: the write stopped in the middle of the second document.
    const half = write('half.yaml', full.slice(0, full.lastIndexOf('cpus') + 5));
    const binary = write('binary.yaml', Buffer.from([0x61, 0x3a, 0x20, 0xff, 0x0a]));
    const res = await loadManifests([tmp.path]);
    expect(res.workers.map((w) => w.spec.name)).to.deep.equal(['good']);
    expect(res.workers[0]!.source.file).to.equal(good);
    expect(res.invalidFiles.sort()).to.deep.equal([binary, half].sort());
    for (const d of res.diagnostics) {
      expect(d.line).to.be.at.least(1);
      expect(d.col).to.be.at.least(1);
      expect(d.severity).to.equal('error');
    }
    const halfDiag = res.diagnostics.find((d) => d.file === half)!;
    expect([halfDiag.code, halfDiag.pointer]).to.deep.equal(['schema.type', '/spec/cpus']);
    expect(res.diagnostics.find((d) => d.file === binary)).to.include({
      code: 'file.encoding',
      line: 1,
      col: 4,
    });
  });

  it('resolves a relative passwordFile against the manifest directory and keeps an absolute one', async () => {
    const proxy = (passwordFile: string) => ({ proxy: { host: 'proxy.lan', username: 'u', passwordFile } });
    write(
      'site/w.yaml',
      yamlDocs(
        workerDoc('rel', (d) => (d.spec.updates = proxy('secrets/pw'))),
        workerDoc('abs', (d) => (d.spec.updates = proxy('/etc/pw'))),
      ),
    );
    for (const fastPath of [true, false]) {
      const res = await loadManifests([tmp.path], { fastPath });
      expect(res.workers.map((w) => w.spec.updates.proxy?.passwordFile)).to.deep.equal([
        join(tmp.path, 'site/secrets/pw'),
        '/etc/pw',
      ]);
    }
  });

  it('never shows a secret as a diagnostic value', async () => {
    write(
      'p.yaml',
      yamlDocs(
        workerDoc(
          'p',
          (d) => (d.spec.updates = { proxy: { host: 'proxy.lan', password: 'hunter2-secret' } }),
        ),
      ),
    );
    const res = await loadManifests([tmp.path]);
    expect(JSON.stringify(res)).to.not.contain('hunter2-secret');
    expect(res.diagnostics.map((d) => d.code)).to.deep.equal(['schema.unknown-field']);
  });

  it('validates 2,000 documents in 200 files quickly (the benchmark does 10,000)', async function () {
    for (let f = 0; f < 200; f++) {
      write(`g/${f}.yaml`, yamlDocs(...Array.from({ length: 10 }, (_, d) => workerDoc(`w-${f}-${d}`))));
    }
    const started = Date.now();
    const res = await loadManifests([tmp.path]);
    expect(res.workers).to.have.length(2000);
    expect(Date.now() - started).to.be.below(5000); // a smoke test: the benchmark measures
  });
});
