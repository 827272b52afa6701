import { expect } from 'chai';
import {
  DEFAULTS,
  applyDefaults,
  defaultSizeFor,
  type WorkerDocument,
} from '../../controller/manifest/defaults.js';
import { loadManifestSource } from '../../controller/manifest/load.js';
import { validateWorkerDocument, workerSchema, type SchemaNode } from '../../controller/manifest/schema.js';
import { canonicalJson, specHash } from '../../controller/manifest/spec-hash.js';
import { workerDoc, yamlDocs, type AnyDoc } from '../helpers/manifests.js';

function load(doc: unknown) {
  return loadManifestSource('/m/w.yaml', yamlDocs(doc));
}

describe('spec: schema', () => {
  it('has a $id, is 2020-12, and a description on every property and additionalProperties false on every object', () => {
    const schema = workerSchema();
    expect(schema.$id).to.match(/^https:\/\//);
    expect(schema.$schema).to.equal('https://json-schema.org/draft/2020-12/schema');
    const missing: string[] = [];
    const walk = (node: SchemaNode, path: string): void => {
      if (!node.description) missing.push(`${path} description`);
      if (
        node.type === 'object' &&
        path !== '/properties/metadata/properties/labels' &&
        node.additionalProperties !== false
      ) {
        missing.push(`${path} additionalProperties`);
      }
      for (const [k, v] of Object.entries(node.properties ?? {})) walk(v, `${path}/properties/${k}`);
      if (node.items) walk(node.items, `${path}/items`);
      (node.oneOf ?? []).forEach((b, i) => walk(b, `${path}/oneOf/${i}`));
    };
    walk(schema, '');
    expect(missing).to.deep.equal([]);
  });

  it('accepts the minimal document', () => {
    expect(validateWorkerDocument(workerDoc())).to.deep.equal([]);
  });

  // Each case edits the minimal document and names the code and pointer of the one expected error.
  const cases: { name: string; patch: (d: AnyDoc) => void; code: string; pointer: string }[] = [
    {
      name: 'name with upper case',
      patch: (d) => (d.metadata.name = 'Worker1'),
      code: 'schema.invalid-value',
      pointer: '/metadata/name',
    },
    {
      name: 'name with a leading dash',
      patch: (d) => (d.metadata.name = '-w1'),
      code: 'schema.invalid-value',
      pointer: '/metadata/name',
    },
    {
      name: 'name with a trailing dash',
      patch: (d) => (d.metadata.name = 'w1-'),
      code: 'schema.invalid-value',
      pointer: '/metadata/name',
    },
    {
      name: 'name of 41 characters',
      patch: (d) => (d.metadata.name = 'a'.repeat(41)),
      code: 'schema.max-length',
      pointer: '/metadata/name',
    },
    {
      name: 'empty name',
      patch: (d) => (d.metadata.name = ''),
      code: 'schema.min-length',
      pointer: '/metadata/name',
    },
    {
      name: 'missing host',
      patch: (d) => delete d.spec.host,
      code: 'schema.required',
      pointer: '/spec/host',
    },
    {
      name: 'missing networks',
      patch: (d) => delete d.spec.networks,
      code: 'schema.required',
      pointer: '/spec/networks',
    },
    {
      name: 'no networks',
      patch: (d) => (d.spec.networks = []),
      code: 'schema.min-items',
      pointer: '/spec/networks',
    },
    {
      name: 'unknown top-level field',
      patch: (d) => (d.status = {}),
      code: 'schema.unknown-field',
      pointer: '/status',
    },
    {
      name: 'unknown spec field',
      patch: (d) => (d.spec.cores = 4),
      code: 'schema.unknown-field',
      pointer: '/spec/cores',
    },
    {
      name: 'description of 1025 characters',
      patch: (d) => (d.spec.description = 'x'.repeat(1025)),
      code: 'schema.max-length',
      pointer: '/spec/description',
    },
    {
      name: 'vlan 0',
      patch: (d) => (d.spec.networks[0].vlan = 0),
      code: 'schema.minimum',
      pointer: '/spec/networks/0/vlan',
    },
    {
      name: 'vlan 4095',
      patch: (d) => (d.spec.networks[0].vlan = 4095),
      code: 'schema.maximum',
      pointer: '/spec/networks/0/vlan',
    },
    {
      name: 'address without prefix',
      patch: (d) => (d.spec.networks[0].ipv4 = { address: '10.0.0.5' }),
      code: 'schema.invalid-value',
      pointer: '/spec/networks/0/ipv4/address',
    },
    {
      name: 'address with prefix 33',
      patch: (d) => (d.spec.networks[0].ipv4 = { address: '10.0.0.5/33' }),
      code: 'schema.invalid-value',
      pointer: '/spec/networks/0/ipv4/address',
    },
    {
      name: 'address with a leading zero octet',
      patch: (d) => (d.spec.networks[0].ipv4 = { address: '10.0.0.05/24' }),
      code: 'schema.invalid-value',
      pointer: '/spec/networks/0/ipv4/address',
    },
    {
      name: 'gateway not an IPv4',
      patch: (d) => (d.spec.networks[0].ipv4 = { address: '10.0.0.5/24', gateway: 'router' }),
      code: 'schema.invalid-value',
      pointer: '/spec/networks/0/ipv4/gateway',
    },
    {
      name: 'ipv4 DHCP in capitals',
      patch: (d) => (d.spec.networks[0].ipv4 = 'DHCP'),
      code: 'schema.const',
      pointer: '/spec/networks/0/ipv4',
    },
    {
      name: 'ipv4 a number',
      patch: (d) => (d.spec.networks[0].ipv4 = 5),
      code: 'schema.type',
      pointer: '/spec/networks/0/ipv4',
    },
    {
      name: 'three DNS servers',
      patch: (d) => (d.spec.dns = { servers: ['10.0.0.1', '10.0.0.2', '10.0.0.3'] }),
      code: 'schema.max-items',
      pointer: '/spec/dns/servers',
    },
    {
      name: 'a repeated DNS server',
      patch: (d) => (d.spec.dns = { servers: ['10.0.0.1', '10.0.0.1'] }),
      code: 'schema.unique-items',
      pointer: '/spec/dns/servers/1',
    },
    {
      name: 'dns neither auto nor servers',
      patch: (d) => (d.spec.dns = 'dhcp'),
      code: 'schema.const',
      pointer: '/spec/dns',
    },
    {
      name: 'proxy port 0',
      patch: (d) => (d.spec.updates = { proxy: { host: 'p', port: 0 } }),
      code: 'schema.minimum',
      pointer: '/spec/updates/proxy/port',
    },
    {
      name: 'proxy port 65536',
      patch: (d) => (d.spec.updates = { proxy: { host: 'p', port: 65536 } }),
      code: 'schema.maximum',
      pointer: '/spec/updates/proxy/port',
    },
    {
      name: 'inline proxy password',
      patch: (d) => (d.spec.updates = { proxy: { host: 'p', password: 's3cret' } }),
      code: 'schema.unknown-field',
      pointer: '/spec/updates/proxy/password',
    },
    {
      name: 'maxConcurrentTasks 0',
      patch: (d) => (d.spec.maxConcurrentTasks = 0),
      code: 'schema.minimum',
      pointer: '/spec/maxConcurrentTasks',
    },
    {
      name: 'maxConcurrentTasks 65',
      patch: (d) => (d.spec.maxConcurrentTasks = 65),
      code: 'schema.maximum',
      pointer: '/spec/maxConcurrentTasks',
    },
    { name: 'cpus 1', patch: (d) => (d.spec.cpus = 1), code: 'schema.minimum', pointer: '/spec/cpus' },
    { name: 'cpus 129', patch: (d) => (d.spec.cpus = 129), code: 'schema.maximum', pointer: '/spec/cpus' },
    {
      name: 'memoryGiB 1025',
      patch: (d) => (d.spec.memoryGiB = 1025),
      code: 'schema.maximum',
      pointer: '/spec/memoryGiB',
    },
    {
      name: 'diskGiB 19',
      patch: (d) => (d.spec.diskGiB = 19),
      code: 'schema.minimum',
      pointer: '/spec/diskGiB',
    },
    {
      name: 'diskGiB 4097',
      patch: (d) => (d.spec.diskGiB = 4097),
      code: 'schema.maximum',
      pointer: '/spec/diskGiB',
    },
    {
      name: 'cpus with a fraction',
      patch: (d) => (d.spec.cpus = 4.5),
      code: 'schema.type',
      pointer: '/spec/cpus',
    },
    {
      name: 'template vmid 99',
      patch: (d) => (d.spec.template = 99),
      code: 'schema.minimum',
      pointer: '/spec/template',
    },
    {
      name: 'template a boolean',
      patch: (d) => (d.spec.template = true),
      code: 'schema.type',
      pointer: '/spec/template',
    },
    {
      name: 'deploy lower case',
      patch: (d) => (d.spec.deploy = 'eager'),
      code: 'schema.enum',
      pointer: '/spec/deploy',
    },
    {
      name: 'applyChanges unknown',
      patch: (d) => (d.spec.applyChanges = 'Now'),
      code: 'schema.enum',
      pointer: '/spec/applyChanges',
    },
    {
      name: 'deletionPolicy unknown',
      patch: (d) => (d.spec.deletionPolicy = 'Keep'),
      code: 'schema.enum',
      pointer: '/spec/deletionPolicy',
    },
    {
      name: 'enabled a string',
      patch: (d) => (d.spec.enabled = 'yes'),
      code: 'schema.type',
      pointer: '/spec/enabled',
    },
    {
      name: 'label value a number',
      patch: (d) => (d.metadata.labels = { rack: 3 }),
      code: 'schema.type',
      pointer: '/metadata/labels/rack',
    },
    {
      name: 'label key with a space',
      patch: (d) => (d.metadata.labels = { 'a b': 'x' }),
      code: 'schema.property-names',
      pointer: '/metadata/labels/a b',
    },
    {
      name: 'bridge name too long',
      patch: (d) => (d.spec.networks[0].bridge = 'vmbr0123456789012'),
      code: 'schema.max-length',
      pointer: '/spec/networks/0/bridge',
    },
    {
      name: 'apiVersion v2',
      patch: (d) => (d.apiVersion = 'workerctl.dev/v2'),
      code: 'manifest.api-version',
      pointer: '/apiVersion',
    },
    { name: 'kind Pod', patch: (d) => (d.kind = 'Pod'), code: 'manifest.kind', pointer: '/kind' },
  ];
  for (const tc of cases) {
    it(`rejects ${tc.name} (${tc.code} at ${tc.pointer})`, () => {
      const res = load(workerDoc('w-01', tc.patch));
      expect(res.diagnostics.map((d) => [d.code, d.pointer])).to.deep.equal([[tc.code, tc.pointer]]);
      expect(res.workers).to.have.length(0);
      expect(res.invalidFiles).to.deep.equal(['/m/w.yaml']);
    });
  }

  it('accepts every bound at its limit', () => {
    const res = load(
      workerDoc('a'.repeat(40), (d) => {
        Object.assign(d.spec, {
          maxConcurrentTasks: 64,
          cpus: 128,
          memoryGiB: 1024,
          diskGiB: 4096,
          description: 'x'.repeat(1024),
          template: 999999999,
        });
        d.spec.networks = [
          { bridge: 'vmbr0', vlan: 4094, ipv4: 'dhcp' },
          { bridge: 'vmbr1', vlan: 1, ipv4: 'dhcp' },
        ];
        d.spec.updates = { proxy: { host: 'proxy.example.com', port: 65535 } };
      }),
    );
    expect(res.diagnostics).to.deep.equal([]);
    expect(res.workers).to.have.length(1);
  });
});

describe('spec: defaults', () => {
  it('applies exactly the defaults the JSON Schema declares (the schema is their one source)', () => {
    const declared: { path: string[]; value: unknown }[] = [];
    const walk = (node: SchemaNode, path: string[]) => {
      if ('default' in node && path.length > 0) declared.push({ path, value: node.default });
      for (const [name, child] of Object.entries(node.properties ?? {})) walk(child, [...path, name]);
    };
    walk(workerSchema(), []);
    const doc = workerDoc(
      'w-01',
      (d) => (d.spec.updates = { proxy: { host: 'proxy.lan' } }),
    ) as WorkerDocument;
    const spec = applyDefaults(doc) as unknown as Record<string, unknown>;
    for (const { path, value } of declared) {
      // metadata.labels lands in spec.labels; everything else keeps its path under spec.
      const inSpec = path.slice(1);
      let got: unknown = spec;
      for (const name of inSpec) got = (got as Record<string, unknown>)[name];
      expect(got, path.join('.')).to.deep.equal(value);
    }
    expect(declared.map((d) => d.path.join('.')).sort()).to.have.length(Object.keys(DEFAULTS).length);
  });

  it('fills every default of a minimal document', () => {
    const spec = applyDefaults(workerDoc() as WorkerDocument);
    expect(spec).to.deep.equal({
      name: 'w-01',
      labels: {},
      host: 'pve1',
      template: 'worker-template',
      storage: 'local-lvm',
      description: '',
      maxConcurrentTasks: 4,
      cpus: 6,
      memoryGiB: 6,
      diskGiB: 100,
      networks: [{ bridge: 'vmbr0', ipv4: 'dhcp' }],
      dns: 'auto',
      updates: { enabled: true },
      enabled: true,
      deploy: 'OnDemand',
      applyChanges: 'WhenIdle',
      deletionPolicy: 'Delete',
    });
  });

  const sizing = [
    { tasks: 1, size: 3 },
    { tasks: 2, size: 4 },
    { tasks: 4, size: 6 },
    { tasks: 5, size: 7 },
    { tasks: 8, size: 10 },
    { tasks: 64, size: 66 },
  ];
  for (const tc of sizing) {
    it(`sizes ${tc.tasks} tasks at ${tc.size} vCPUs and ${tc.size} GiB`, () => {
      const spec = applyDefaults(
        workerDoc('w', (d) => (d.spec.maxConcurrentTasks = tc.tasks)) as WorkerDocument,
      );
      expect([spec.cpus, spec.memoryGiB]).to.deep.equal([tc.size, tc.size]);
    });
  }

  it('never sizes below 2', () => {
    expect(defaultSizeFor(1)).to.equal(3);
    expect(defaultSizeFor(-10)).to.equal(2);
  });

  it('keeps explicit values over defaults', () => {
    const spec = applyDefaults(
      workerDoc('w', (d) => {
        Object.assign(d.spec, {
          maxConcurrentTasks: 8,
          cpus: 4,
          memoryGiB: 32,
          diskGiB: 50,
          enabled: false,
          deploy: 'Eager',
          applyChanges: 'Immediate',
          deletionPolicy: 'Orphan',
          description: 'd',
        });
        d.spec.dns = { servers: ['10.0.0.53'] };
        d.spec.updates = { enabled: false };
      }) as WorkerDocument,
    );
    expect(spec).to.include({
      cpus: 4,
      memoryGiB: 32,
      diskGiB: 50,
      enabled: false,
      deploy: 'Eager',
      applyChanges: 'Immediate',
      deletionPolicy: 'Orphan',
      description: 'd',
    });
    expect(spec.dns).to.deep.equal({ servers: ['10.0.0.53'] });
    expect(spec.updates).to.deep.equal({ enabled: false });
  });

  it('defaults the proxy port to 80 and keeps username and passwordFile', () => {
    const spec = applyDefaults(
      workerDoc(
        'w',
        (d) => (d.spec.updates = { proxy: { host: 'proxy.lan', username: 'u', passwordFile: 'pw' } }),
      ) as WorkerDocument,
    );
    expect(spec.updates).to.deep.equal({
      enabled: true,
      proxy: { host: 'proxy.lan', port: 80, username: 'u', passwordFile: 'pw' },
    });
  });

  it('does not change its input', () => {
    const doc = workerDoc(
      'w',
      (d) => (d.spec.networks = [{ bridge: 'vmbr0', ipv4: { address: '10.0.0.5/24', gateway: '10.0.0.1' } }]),
    );
    const before = JSON.stringify(doc);
    const spec = applyDefaults(doc as WorkerDocument);
    spec.networks[0]!.bridge = 'changed';
    expect(JSON.stringify(doc)).to.equal(before);
  });
});

describe('spec: specHash', () => {
  it('is the same whatever the key order, and canonical JSON sorts keys at every level', () => {
    const a = applyDefaults(
      workerDoc('w', (d) => (d.metadata.labels = { b: '1', a: '2' })) as WorkerDocument,
    );
    const reversed = (v: unknown): unknown =>
      v && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(
            Object.entries(v)
              .reverse()
              .map(([k, x]) => [k, reversed(x)]),
          )
        : Array.isArray(v)
          ? v.map(reversed)
          : v;
    const b = reversed(a) as typeof a;
    expect(Object.keys(b)[0]).to.equal('deletionPolicy');
    expect(specHash(a)).to.equal(specHash(b));
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null } })).to.equal(
      '{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}',
    );
    expect(specHash(a)).to.match(/^[0-9a-f]{64}$/);
  });

  it('changes when any field changes', () => {
    const base = applyDefaults(workerDoc() as WorkerDocument);
    const changed = { ...base, cpus: base.cpus + 1 };
    expect(specHash(changed)).to.not.equal(specHash(base));
  });

  it('is what the loader reports', () => {
    const res = load(workerDoc());
    expect(res.workers[0]!.specHash).to.equal(specHash(res.workers[0]!.spec));
  });
});
