import { expect } from 'chai';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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

  it('issue 11 point 4: a dangling or looping symlink is a problem on its own path, not a file that vanished', async () => {
    write('a.yaml', yamlDocs(workerDoc('a')));
    symlinkSync(join(tmp.path, 'nowhere.yaml'), join(tmp.path, 'b.yaml'));
    symlinkSync(join(tmp.path, 'c.yaml'), join(tmp.path, 'c.yaml'));
    const res = await loadManifests([tmp.path]);
    expect(res.workers.map((w) => w.spec.name)).to.deep.equal(['a']);
    expect(res.diagnostics.map((d) => [d.file, d.code])).to.deep.equal([
      [join(tmp.path, 'b.yaml'), 'path.dangling'],
      [join(tmp.path, 'c.yaml'), 'path.dangling'],
    ]);
    expect(res.diagnostics[1]!.message).to.contain('a loop');
    expect(res.invalidFiles).to.include(join(tmp.path, 'b.yaml')).and.to.include(join(tmp.path, 'c.yaml'));
  });

  it('issue 11 point 11: never follows a symlink out of the manifest directory; bounds files, depth, entries and bytes', async () => {
    write('a.yaml', yamlDocs(workerDoc('a')));
    symlinkSync('/usr', join(tmp.path, 'usr'));
    const t0 = Date.now();
    const res = await loadManifests([tmp.path]);
    expect(Date.now() - t0).to.be.below(2000);
    expect(res.workers.map((w) => w.spec.name)).to.deep.equal(['a']);
    expect(res.diagnostics.map((d) => [d.file, d.code])).to.deep.equal([
      [join(tmp.path, 'usr'), 'path.outside-root'],
    ]);
    // The root itself may be a symlink (a checkout swapped atomically): what is inside it is read.
    const link = join(tmp.path, '..', `${tmp.path.split('/').pop()}-current`);
    symlinkSync(tmp.path, link);
    try {
      expect((await loadManifests([link])).workers.map((w) => w.spec.name)).to.deep.equal(['a']);
    } finally {
      rmSync(link);
    }
    for (let i = 0; i < 5; i++) write(`f/w${i}.yaml`, yamlDocs(workerDoc(`w${i}`)));
    write('d/1/2/3/4/deep.yaml', yamlDocs(workerDoc('deep')));
    const limited = async (opts: Parameters<typeof loadManifests>[1]) => {
      const r = await loadManifests([tmp.path], opts);
      expect(r.workers, JSON.stringify(opts)).to.deep.equal([]);
      const d = r.diagnostics.find((x) => x.code === 'path.limit');
      expect(d, JSON.stringify(opts)).to.not.equal(undefined);
      return d!.message;
    };
    expect(await limited({ walk: { maxFiles: 4 } })).to.contain('more than 4 manifest files');
    expect(await limited({ walk: { maxDepth: 3 } })).to.contain('more than 3 directory levels');
    expect(await limited({ walk: { maxEntries: 5 } })).to.contain('more than 5 directory entries');
    expect(await limited({ maxTotalBytes: 500 })).to.contain('more than the limit of 500');
    expect((await loadManifests([tmp.path])).workers).to.have.length(7);
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

  it('resolves a relative passwordFile against the manifest directory', async () => {
    const proxy = (passwordFile: string) => ({ proxy: { host: 'proxy.lan', username: 'u', passwordFile } });
    write('site/secrets/pw', 'pw\n');
    write('site/w.yaml', yamlDocs(workerDoc('rel', (d) => (d.spec.updates = proxy('secrets/pw')))));
    for (const fastPath of [true, false]) {
      const res = await loadManifests([tmp.path], { fastPath });
      expect(res.workers.map((w) => w.spec.updates.proxy?.passwordFile)).to.deep.equal([
        join(tmp.path, 'site/secrets/pw'),
      ]);
    }
  });

  it('issue 11 point 2: a passwordFile outside the manifest directory, not a regular file, or too large is refused at file:line:col', async () => {
    const proxy = (passwordFile: string) => ({ proxy: { host: 'proxy.lan', username: 'u', passwordFile } });
    const outside = makeTempDir();
    try {
      writeFileSync(join(outside.path, 'token'), 'root@pam!x=secret\n');
      write('big.pass', 'x'.repeat(5000));
      symlinkSync(join(outside.path, 'token'), join(tmp.path, 'link.pass'));
      const cases: [string, string, RegExp][] = [
        ['environ', '/proc/self/environ', /outside the manifest directory/],
        ['token', join(outside.path, 'token'), /outside the manifest directory/],
        ['shadow', '../../../../../../../../etc/shadow', /outside the manifest directory|does not exist/],
        ['zero', '/dev/zero', /outside the manifest directory/],
        ['link', 'link.pass', /outside the manifest directory \(it leads to /],
        ['big', 'big.pass', /larger than 4096 bytes/],
        ['dir', '.', /not a regular file/],
        ['missing', 'nope.pass', /does not exist/],
      ];
      for (const [name, file] of cases) {
        write(`${name}.yaml`, yamlDocs(workerDoc(name, (d) => (d.spec.updates = proxy(file)))));
      }
      for (const fastPath of [true, false]) {
        const res = await loadManifests([tmp.path], { fastPath });
        expect(res.workers, `fastPath ${fastPath}`).to.deep.equal([]);
        for (const [name, , message] of cases) {
          const d = res.diagnostics.find((x) => x.file === join(tmp.path, `${name}.yaml`));
          expect(d, name).to.not.equal(undefined);
          expect(d!.code, name).to.equal('semantic.password-file');
          expect(d!.message, name).to.match(message);
          expect(d!.pointer).to.equal('/spec/updates/proxy/passwordFile');
          // The line of passwordFile in the document, not the document's start.
          expect(d!.line, name).to.be.greaterThan(1);
        }
      }
    } finally {
      outside.remove();
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
