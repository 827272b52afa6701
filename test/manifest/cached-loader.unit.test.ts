import { expect } from 'chai';
import { mkdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadManifests } from '../../controller/manifest/load.js';
import { createManifestLoader, type ManifestLoaderOptions } from '../../controller/manifest/cached-loader.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { workerDoc, yamlDocs, type AnyDoc } from '../helpers/manifests.js';

/** A clock one hour ahead: every file looks old, so the loader trusts stats alone (no racy check). */
const SETTLED: ManifestLoaderOptions = { now: () => Date.now() + 3_600_000 };

const staticNet = (ip: string) => (d: AnyDoc) => {
  const gateway = `${ip.split('.').slice(0, 3).join('.')}.1`;
  d.spec.networks = [{ bridge: 'vmbr0', ipv4: { address: `${ip}/24`, gateway } }];
  d.spec.dns = { servers: ['10.9.9.53'] };
};

describe('spec: createManifestLoader (cached reload)', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeEach(() => (tmp = makeTempDir()));
  afterEach(() => tmp.remove());

  const write = (rel: string, text: string): string => {
    const file = join(tmp.path, rel);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, text);
    return file;
  };
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** Loads with the cached loader and checks it equals a fresh load of the same tree. */
  async function expectSame(
    loader: ReturnType<typeof createManifestLoader>,
    paths = [tmp.path],
  ): Promise<Awaited<ReturnType<typeof loadManifests>>> {
    const cached = await loader.load(paths);
    const fresh = await loadManifests(paths);
    expect(cached).to.deep.equal(fresh);
    return cached;
  }

  for (const [label, opts] of [
    ['racy check on (real clock)', {}],
    ['stats trusted (settled clock)', SETTLED],
  ] as const) {
    it(`equals a fresh load after edits, additions, deletions and renames (${label})`, async () => {
      const loader = createManifestLoader(opts);
      write('a.yaml', yamlDocs(workerDoc('a')));
      write('sub/b.yaml', yamlDocs(workerDoc('b'), workerDoc('b2')));
      let res = await expectSame(loader);
      expect(res.workers.map((w) => w.spec.name)).to.deep.equal(['a', 'b', 'b2']);

      write('a.yaml', yamlDocs(workerDoc('a', (d) => (d.spec.host = 'pve2'))));
      res = await expectSame(loader);
      expect(res.workers[0]!.spec.host).to.equal('pve2');

      write('c.yml', yamlDocs(workerDoc('c')));
      res = await expectSame(loader);
      expect(res.workers.map((w) => w.spec.name)).to.deep.equal(['a', 'c', 'b', 'b2']);

      rmSync(join(tmp.path, 'sub/b.yaml'));
      res = await expectSame(loader);
      expect(res.workers.map((w) => w.spec.name)).to.deep.equal(['a', 'c']);

      renameSync(join(tmp.path, 'c.yml'), join(tmp.path, 'sub/d.yaml'));
      res = await expectSame(loader);
      expect(res.workers.map((w) => w.source.file)).to.deep.equal([
        join(tmp.path, 'a.yaml'),
        join(tmp.path, 'sub/d.yaml'),
      ]);
      // Two files swap their content through renames (same sizes and mtimes, other inodes).
      write('x.yaml', yamlDocs(workerDoc('x1')));
      write('y.yaml', yamlDocs(workerDoc('y1')));
      await expectSame(loader);
      renameSync(join(tmp.path, 'x.yaml'), join(tmp.path, 'tmp.yaml.tmp'));
      renameSync(join(tmp.path, 'y.yaml'), join(tmp.path, 'x.yaml'));
      renameSync(join(tmp.path, 'tmp.yaml.tmp'), join(tmp.path, 'y.yaml'));
      res = await expectSame(loader);
      expect(res.workers.find((w) => w.spec.name === 'x1')!.source.file).to.equal(join(tmp.path, 'y.yaml'));
      expect(loader.cachedFiles).to.equal(4);
    });
  }

  it('follows a file turning invalid and back, and findings across files both ways', async () => {
    const loader = createManifestLoader();
    write('a.yaml', yamlDocs(workerDoc('a', staticNet('10.0.0.5'))));
    write('b.yaml', yamlDocs(workerDoc('b', staticNet('10.0.0.6'))));
    await expectSame(loader);

    write('b.yaml', 'apiVersion: workerctl.dev/v1\nkind: Worker\nmetadata: {name: b\n');
    let res = await expectSame(loader);
    expect(res.invalidFiles).to.deep.equal([join(tmp.path, 'b.yaml')]);

    write('b.yaml', yamlDocs(workerDoc('b', (d) => (d.spec.storage = 7))));
    res = await expectSame(loader);
    expect(res.diagnostics.map((d) => d.code)).to.include('schema.type');

    // b takes a's name and address: the finding located in the cached, unchanged a.yaml too.
    write('b.yaml', yamlDocs(workerDoc('a', staticNet('10.0.0.5'))));
    res = await expectSame(loader);
    expect(res.invalidFiles).to.have.members([join(tmp.path, 'a.yaml'), join(tmp.path, 'b.yaml')]);
    expect(res.diagnostics.filter((d) => d.file.endsWith('a.yaml')).map((d) => d.line)).to.not.include(1);

    write('b.yaml', yamlDocs(workerDoc('b', staticNet('10.0.0.6'))));
    res = await expectSame(loader);
    expect(res.invalidFiles).to.deep.equal([]);
    expect(res.diagnostics).to.deep.equal([]);
    expect(res.workers.map((w) => w.spec.name)).to.deep.equal(['a', 'b']);
  });

  it('sees an edit that keeps size and mtime right after a read (racy check by content)', async () => {
    const loader = createManifestLoader();
    const file = write('a.yaml', yamlDocs(workerDoc('w-1')));
    const { atime, mtime } = statSync(file);
    expect((await expectSame(loader)).workers[0]!.spec.name).to.equal('w-1');
    writeFileSync(file, yamlDocs(workerDoc('w-2')));
    utimesSync(file, atime, mtime);
    expect((await expectSame(loader)).workers[0]!.spec.name).to.equal('w-2');
  });

  it('sees an edit that keeps size and mtime of an old file (ctime changes)', async () => {
    const loader = createManifestLoader(SETTLED);
    const file = write('a.yaml', yamlDocs(workerDoc('w-1')));
    const { atime, mtime } = statSync(file);
    await expectSame(loader);
    await pause(30); // past the file system's timestamp tick, so the ctime differs
    writeFileSync(file, yamlDocs(workerDoc('w-2')));
    utimesSync(file, atime, mtime);
    expect(Math.round(statSync(file).mtimeMs)).to.equal(mtime.getTime());
    expect((await expectSame(loader)).workers[0]!.spec.name).to.equal('w-2');
  });

  it('parses only new and changed files; a touched file with the same content is not parsed again', async () => {
    for (const opts of [{}, SETTLED]) {
      const parsed: string[] = [];
      const loader = createManifestLoader({ ...opts, onParse: (f) => parsed.push(f) });
      const dir = join(tmp.path, opts === SETTLED ? 'settled' : 'racy');
      for (let i = 0; i < 50; i++)
        write(`${dir.slice(tmp.path.length + 1)}/f${i}.yaml`, yamlDocs(workerDoc(`w-${i}`)));
      await expectSame(loader, [dir]);
      expect(parsed).to.have.length(50);

      parsed.length = 0;
      await expectSame(loader, [dir]);
      expect(parsed).to.deep.equal([]);

      writeFileSync(join(dir, 'f7.yaml'), yamlDocs(workerDoc('w-7', (d) => (d.spec.host = 'pve3'))));
      writeFileSync(join(dir, 'new.yaml'), yamlDocs(workerDoc('w-new')));
      const later = new Date(Date.now() + 5000);
      utimesSync(join(dir, 'f9.yaml'), later, later);
      await expectSame(loader, [dir]);
      expect(parsed).to.have.members([join(dir, 'f7.yaml'), join(dir, 'new.yaml')]);
    }
  });

  it('keeps equal to a fresh load over many files and rounds of random changes', async () => {
    const loader = createManifestLoader();
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const content = (i: number, v: number): string => {
      const kind = v % 7;
      if (kind === 5) return 'metadata: {name: [broken\n';
      // kind 6 reuses another file's name and address: findings across files
      const name = kind === 6 ? `w-${(i + 1) % 200}` : `w-${i}`;
      const ip = `10.1.0.${((kind === 6 ? i + 1 : i) % 200) + 2}`;
      return yamlDocs(
        workerDoc(name, (d) => {
          if (kind % 2 === 0) staticNet(ip)(d);
          d.spec.description = `v${v}`;
        }),
      );
    };
    for (let i = 0; i < 200; i++) write(`d${i % 5}/f${i}.yaml`, content(i, 0));
    const codes: string[] = [];
    await expectSame(loader);
    for (let round = 1; round <= 8; round++) {
      for (let k = 0; k < 15; k++) {
        const i = rand(220);
        const rel = `d${i % 5}/f${i}.yaml`;
        if (rand(6) === 0) rmSync(join(tmp.path, rel), { force: true });
        else write(rel, content(i, rand(100)));
      }
      const res = await expectSame(loader);
      expect(res.files.length).to.be.greaterThan(150);
      codes.push(...res.diagnostics.map((d) => d.code));
    }
    // The rounds went through invalid files and both findings across files.
    expect(new Set(codes)).to.include.keys('semantic.duplicate-name', 'semantic.duplicate-address');
  });

  it('reports missing paths, unreadable and oversized files like a fresh load', async () => {
    const loader = createManifestLoader({ maxFileBytes: 2000 });
    write('a.yaml', yamlDocs(workerDoc('a')));
    const big = write('big.yaml', yamlDocs(workerDoc('big')) + `# ${'x'.repeat(3000)}\n`);
    const paths = [tmp.path, join(tmp.path, 'missing')];
    const cached = await loader.load(paths);
    expect(cached).to.deep.equal(await loadManifests(paths, { maxFileBytes: 2000 }));
    expect(cached.invalidFiles).to.include(big);
    writeFileSync(big, yamlDocs(workerDoc('big')));
    const again = await loader.load(paths);
    expect(again).to.deep.equal(await loadManifests(paths, { maxFileBytes: 2000 }));
    expect(again.workers.map((w) => w.spec.name)).to.deep.equal(['a', 'big']);
  });
});
