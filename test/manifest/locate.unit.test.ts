import { expect } from 'chai';
import { loadManifestSource } from '../../controller/manifest/load.js';
import { positionOf } from '../helpers/manifests.js';

function diag(text: string) {
  return loadManifestSource('/m/w.yaml', text).diagnostics.map((d) => ({
    at: [d.line, d.col],
    code: d.code,
    pointer: d.pointer,
    document: d.document,
  }));
}

const head = (name: string) => `apiVersion: workerctl.dev/v1\nkind: Worker\nmetadata:\n  name: ${name}\n`;

describe('spec: errors at file:line:col (1-based)', () => {
  it('points at the offending value in block style', () => {
    const text = `${head('w')}spec:\n  host: pve1\n  template: worker-template\n  storage: local-lvm\n  networks:\n    - bridge: vmbr0\n      vlan: 9999\n      ipv4: dhcp\n`;
    expect(diag(text)).to.deep.equal([
      { at: positionOf(text, '9999'), code: 'schema.maximum', pointer: '/spec/networks/0/vlan', document: 0 },
    ]);
  });

  it('points at the offending value in flow style, on the right line and column', () => {
    const text = `{apiVersion: workerctl.dev/v1, kind: Worker, metadata: {name: w},\n spec: {host: pve1, template: worker-template, storage: local-lvm,\n   networks: [{bridge: vmbr0, ipv4: dhcp}, {bridge: vmbr1, vlan: 0, ipv4: dhcp}]}}\n`;
    const [line, col] = positionOf(text, 'vlan: 0');
    expect(diag(text)).to.deep.equal([
      { at: [line, col + 6], code: 'schema.minimum', pointer: '/spec/networks/1/vlan', document: 0 },
    ]);
  });

  it('points at the key of an unknown field', () => {
    const text = `${head('w')}spec:\n  host: pve1\n  template: worker-template\n  storage: local-lvm\n  networks: [{bridge: vmbr0, ipv4: dhcp, mtu: 9000}]\n`;
    expect(diag(text)).to.deep.equal([
      {
        at: positionOf(text, 'mtu'),
        code: 'schema.unknown-field',
        pointer: '/spec/networks/0/mtu',
        document: 0,
      },
    ]);
  });

  it('points at the parent object (its key) for a missing required field', () => {
    const text = `${head('w')}spec:\n  host: pve1\n  storage: local-lvm\n  networks:\n    - bridge: vmbr0\n`;
    expect(diag(text)).to.deep.equal([
      { at: positionOf(text, 'spec:'), code: 'schema.required', pointer: '/spec/template', document: 0 },
      {
        at: positionOf(text, 'bridge'),
        code: 'schema.required',
        pointer: '/spec/networks/0/ipv4',
        document: 0,
      },
    ]);
  });

  it('points at the document start when a top-level field is missing', () => {
    const text = `# a comment\n\n${head('w')}`;
    expect(diag(text)).to.deep.equal([
      { at: [3, 1], code: 'schema.required', pointer: '/spec', document: 0 },
    ]);
  });

  it('counts lines across documents and names the document index', () => {
    const good = `${head('ok')}spec: {host: pve1, template: worker-template, storage: local-lvm, networks: [{bridge: vmbr0, ipv4: dhcp}]}\n`;
    const bad = `${head('bad')}spec: {host: pve1, template: worker-template, storage: local-lvm, networks: [{bridge: vmbr0, ipv4: dhcp}], cpus: 1}\n`;
    const text = `${good}---\n# second\n${good.replace('ok', 'ok2')}...\n---\n${bad}`;
    const at = positionOf(text, '1}', text.indexOf('name: bad'));
    expect(diag(text)).to.deep.equal([{ at, code: 'schema.minimum', pointer: '/spec/cpus', document: 2 }]);
  });

  it('counts columns in characters after non-ASCII text', () => {
    const text = `${head('w')}spec: {description: "Grüße ✓", host: pve1, template: worker-template, storage: local-lvm, networks: [], cpus: 2}\n`;
    expect(diag(text)).to.deep.equal([
      { at: positionOf(text, '[]'), code: 'schema.min-items', pointer: '/spec/networks', document: 0 },
    ]);
  });

  it('points at a YAML syntax error and at a duplicate key', () => {
    const syntax = `${head('w')}spec:\n  host: "pve1\n`;
    const [s] = diag(syntax);
    expect(s!.code).to.match(/^yaml\./);
    expect(s!.at[0]).to.be.within(6, 7); // the unclosed quote's line, or the end of the file
    const dup = `${head('w')}spec:\n  host: pve1\n  host: pve2\n`;
    expect(diag(dup)).to.deep.equal([{ at: [7, 3], code: 'yaml.duplicate-key', pointer: '', document: 0 }]);
    expect(loadManifestSource('/m/w.yaml', dup).diagnostics[0]!.message).to.equal("duplicate key 'host'");
  });

  it('locates bytes that are not UTF-8 at the first bad byte', () => {
    const bytes = Buffer.concat([
      Buffer.from(`${head('w')}spec:\n  description: "`),
      Buffer.from([0x61, 0xc3, 0x28]),
      Buffer.from('"\n'),
    ]);
    const [d] = loadManifestSource('/m/w.yaml', bytes).diagnostics;
    expect([d!.code, d!.line, d!.col]).to.deep.equal(['file.encoding', 6, 18]);
  });

  it('bounds alias expansion (billion laughs) and reports it', () => {
    const rows = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (const [n, p] of [
      ['b', 'a'],
      ['c', 'b'],
      ['d', 'c'],
      ['e', 'd'],
      ['f', 'e'],
      ['g', 'f'],
    ]) {
      rows.push(`${n}: &${n} [${Array(10).fill(`*${p}`).join(', ')}]`);
    }
    const started = Date.now();
    const res = loadManifestSource('/m/w.yaml', rows.join('\n') + '\n');
    expect(res.diagnostics.map((d) => d.code)).to.deep.equal(['yaml.alias-limit']);
    expect(Date.now() - started).to.be.below(2000);
  });

  it('accepts a few harmless aliases', () => {
    const text = `${head('w')}spec:\n  host: &h pve1\n  template: worker-template\n  storage: local-lvm\n  description: *h\n  networks: [{bridge: vmbr0, ipv4: dhcp}]\n`;
    const res = loadManifestSource('/m/w.yaml', text);
    expect(res.diagnostics).to.deep.equal([]);
    expect(res.workers[0]!.spec.description).to.equal('pve1');
  });

  it('applies merge keys inside a document, and reports an anchor used from another document', () => {
    const merged = `${head('m')}spec:\n  <<: {template: worker-template, storage: local-lvm, networks: [{bridge: vmbr0, ipv4: dhcp}]}\n  host: pve2\n`;
    const res = loadManifestSource('/m/w.yaml', merged);
    expect(res.diagnostics).to.deep.equal([]);
    expect(res.workers[0]!.spec).to.include({ host: 'pve2', storage: 'local-lvm' });
    const across = `${head('a')}spec: &base {host: pve1, template: t, storage: s, networks: [{bridge: vmbr0, ipv4: dhcp}]}\n---\n${head('b')}spec: {<<: *base}\n`;
    const codes = loadManifestSource('/m/w.yaml', across).diagnostics.map((d) => [d.code, d.line]);
    expect(codes).to.have.length.above(0);
    for (const [, line] of codes) expect(line).to.be.at.least(7);
  });

  it('treats comment-only files and empty documents as no workers, not errors; an empty file gets a warning', () => {
    for (const text of ['', '\n', '  \n\n', '# nothing yet\n', '---\n---\n', '---\n# c\n...\n']) {
      const res = loadManifestSource('/m/w.yaml', text);
      const empty = text.trim() === '';
      // An empty file keeps its workers on their last spec (issue 11 point 5): a warning says so.
      expect(
        res.diagnostics.map((d) => [d.severity, d.code]),
        JSON.stringify(text),
      ).to.deep.equal(empty ? [['warning', 'file.empty']] : []);
      expect(res.workers).to.deep.equal([]);
      expect(res.invalidFiles).to.deep.equal([]);
    }
  });

  it('reads CRLF line ends and a byte order mark the same on the fast and the full path', () => {
    const good = `${head('a')}spec: {host: pve1, template: worker-template, storage: local-lvm, networks: [{bridge: vmbr0, ipv4: dhcp}]}\n`;
    const text = `\uFEFF# fleet\n${good}---\n${good.replace('name: a', 'name: b')}`.replace(/\n/g, '\r\n');
    const fast = loadManifestSource('/m/w.yaml', text);
    expect(fast).to.deep.equal(loadManifestSource('/m/w.yaml', text, { fastPath: false }));
    expect(fast.workers.map((w) => [w.spec.name, w.source.line])).to.deep.equal([
      ['a', 2],
      ['b', 8],
    ]);
    const bad = text.replace('networks: [{', 'cpus: 1, networks: [{');
    const [d] = loadManifestSource('/m/w.yaml', bad).diagnostics;
    expect([d!.line, d!.col]).to.deep.equal(positionOf(bad, '1, networks'));
  });

  it('reports nesting too deep for the parser instead of crashing', () => {
    const res = loadManifestSource('/m/w.yaml', `a: ${'['.repeat(5000)}${']'.repeat(5000)}\n`);
    expect(res.diagnostics.length).to.be.above(0);
    expect(res.diagnostics[0]!.code).to.equal('yaml.resource-exhaustion');
  });

  it('records where each valid document starts', () => {
    const good = `${head('a')}spec: {host: pve1, template: worker-template, storage: local-lvm, networks: [{bridge: vmbr0, ipv4: dhcp}]}\n`;
    const text = `# fleet\n${good}---\n\n${good.replace('name: a', 'name: b')}`;
    for (const fastPath of [true, false]) {
      const res = loadManifestSource('/m/w.yaml', text, { fastPath });
      expect(res.workers.map((w) => [w.spec.name, w.source.line, w.source.col])).to.deep.equal([
        ['a', 2, 1],
        ['b', 9, 1],
      ]);
    }
  });
});
