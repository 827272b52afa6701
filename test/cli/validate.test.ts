import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../controller/paths.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { workerDoc, yamlDocs } from '../helpers/manifests.js';

const main = join(packageRoot, 'dist', 'controller', 'main.js');

function validate(args: string[], cwd = packageRoot) {
  const res = spawnSync(process.execPath, [main, 'validate', ...args], {
    cwd,
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: res.status, out: res.stdout, err: res.stderr };
}

describe('spec: workerctl validate (end to end)', () => {
  it('exits 0 on examples/ with a summary line', () => {
    const r = validate(['examples/']);
    expect(r.code).to.equal(0);
    expect(r.out.trim()).to.match(/^4 files, 9 workers, 0 errors$/);
  });

  it('exits 1 on examples/invalid/ and reports every error in every file, compiler style, paths relative to cwd', () => {
    const r = validate(['examples/invalid/']);
    expect(r.code).to.equal(1);
    const lines = r.out.split('\n');
    expect(lines).to.include(
      'examples/invalid/vlan-out-of-range.yaml:13:13: error: spec.networks[0].vlan must be <= 4094, got 4095 [schema.maximum]',
    );
    const idx = lines.indexOf(
      'examples/invalid/vlan-out-of-range.yaml:13:13: error: spec.networks[0].vlan must be <= 4094, got 4095 [schema.maximum]',
    );
    expect(lines.slice(idx + 1, idx + 5)).to.deep.equal([
      '  13 |       vlan: 4095',
      '     |             ^^^^',
      '  at /spec/networks/0/vlan, value: 4095',
      '  hint: Optional VLAN tag of the interface, 1 to 4094. Without it the interface is untagged.',
    ]);
    const errors = lines.filter((l) => /^examples\/invalid\/[^:]+:\d+:\d+: error: /.test(l));
    const files = new Set(errors.map((l) => l.split(':')[0]));
    expect(files.size).to.be.above(30);
    expect(lines.at(-2)).to.match(/^\d+ files, \d+ workers, \d+ errors, \d+ warnings$/);
  });

  it('-o json gives the diagnostics, summary and workers for machines', () => {
    const r = validate(['-o', 'json', 'examples/invalid/sizes-out-of-range.yaml', 'examples/pve1.yaml']);
    expect(r.code).to.equal(1);
    const out = JSON.parse(r.out) as {
      valid: boolean;
      summary: Record<string, number>;
      workers: { name: string; file: string }[];
      diagnostics: {
        file: string;
        line: number;
        col: number;
        code: string;
        pointer: string;
        value: unknown;
      }[];
    };
    expect(out.valid).to.equal(false);
    expect(out.summary).to.deep.equal({ files: 2, workers: 3, errors: 4, warnings: 0 });
    expect(out.workers.map((w) => w.name)).to.deep.equal([
      'pve1-worker-01',
      'pve1-worker-02',
      'pve1-worker-03',
    ]);
    expect(out.diagnostics[0]).to.include({
      file: 'examples/invalid/sizes-out-of-range.yaml',
      line: 14,
      col: 23,
      code: 'schema.maximum',
      pointer: '/spec/maxConcurrentTasks',
      value: 65,
    });
  });

  it('--format github prints workflow annotations', () => {
    const r = validate([
      '--format',
      'github',
      'examples/invalid/duplicate-name.yaml',
      'examples/invalid/undersized.yaml',
    ]);
    expect(r.code).to.equal(1);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).to.equal(
      "::error file=examples/invalid/duplicate-name.yaml,line=7,col=9,endLine=7,endColumn=19,title=workerctl semantic.duplicate-name::worker name 'dup-worker' is also used at examples/invalid/duplicate-name.yaml:19:9%0Ahint: worker names are unique across all manifests: rename one of them",
    );
    expect(lines[2]).to.match(/^::warning file=examples\/invalid\/undersized.yaml,line=12,col=9,/);
    expect(lines.at(-1)).to.equal('2 files, 1 worker, 2 errors, 1 warning');
  });

  it('warnings alone do not fail', () => {
    const r = validate(['examples/invalid/undersized.yaml']);
    expect(r.code).to.equal(0);
    expect(r.out).to.contain(': warning: ');
  });

  it('exits 1 on usage errors too: no path, a missing path, an unknown format', () => {
    expect(validate([]).code).to.equal(1);
    const missing = validate(['examples/', 'nope/']);
    expect([missing.code, missing.err.trim()]).to.deep.equal([
      1,
      'workerctl: no such file or directory: nope/',
    ]);
    const xml = validate(['-o', 'xml', 'examples/']);
    expect(xml.code).to.equal(1);
    expect(xml.err).to.contain("unknown output format 'xml'; use one of table, json, yaml, github");
  });

  it('shows absolute paths for files outside the cwd', () => {
    const tmp = makeTempDir();
    try {
      const f = join(tmp.path, 'w.yaml');
      writeFileSync(f, yamlDocs(workerDoc('w', (d) => (d.spec.cpus = 1))));
      const r = validate([f]);
      expect(r.code).to.equal(1);
      expect(r.out.startsWith(`${f}:`)).to.equal(true);
      const rel = validate(['w.yaml'], tmp.path);
      expect(rel.out.startsWith('w.yaml:')).to.equal(true);
    } finally {
      tmp.remove();
    }
  });
});
